"""How much one checkout may write: checked before the first byte, from what the tree says.

Content addressing makes bombs cheap: a chunk list may repeat one chunk (2 KB of packs
describe a 256 MiB file) and a tree may repeat one subtree (10,000 files from a few
hundred bytes). Every object is still verified, so such a tree is not *corrupt*, just
large. A checkout therefore adds up the bytes and files its plan writes (the sizes its
trees record; the writer refuses content of any other size, see
``ObjectStore.iter_file_content``) and, before writing anything, compares them with

* the room on the work tree's file system (``os.statvfs``: free bytes and free inodes),
  less what the checkout's removals give back first;
* a cap: ``checkout.max-bytes`` and ``checkout.max-files``. Defaults are generous
  (:data:`DEFAULT_MAX_BYTES`, :data:`DEFAULT_MAX_FILES`); ``DVAULT_CHECKOUT_MAX_BYTES`` /
  ``DVAULT_CHECKOUT_MAX_FILES`` in the environment replace them (the user's machine, for a
  clone of a remote one does not trust, or a dataset larger than the default); the
  project's ``.dvault/config`` (committed with the project, so not the user's own word)
  may only lower the cap, never raise it.

restic and borg restore whatever a snapshot holds; git has no cap either but has no
repeated-content bombs below the file level (a blob is a whole file). A cap the user can
set, and a room check that fails in a second instead of filling the disk, is what a
content-addressed checkout of untrusted data needs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvault import config as cfg
from dvault.errors import StorageError, UsageError
from dvault.textsafe import human_size

DEFAULT_MAX_BYTES = 1 << 40
"""1 TiB in one checkout, unless the user's environment says otherwise."""
DEFAULT_MAX_FILES = 50_000_000
"""50 million files in one checkout, unless the user's environment says otherwise."""

ENV_MAX_BYTES = "DVAULT_CHECKOUT_MAX_BYTES"
ENV_MAX_FILES = "DVAULT_CHECKOUT_MAX_FILES"

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_SIZE = re.compile(r"\s*(\d+)\s*([kmgtp]?)(?:i?b)?\s*", re.IGNORECASE)


class CheckoutTooLarge(UsageError):
    """A checkout would write more than its cap allows (exit 2: nothing was written)."""


def parse_size(value: Any, what: str) -> int:
    """A byte count: an integer, or a string such as ``"64MiB"``, ``"1T"``, ``"500 GB"``
    (binary units, as dvault prints them)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        found = _SIZE.fullmatch(value)
        if found:
            return int(found[1]) * _UNITS[found[2].lower()]
    raise UsageError(f"{what} must be a size such as 1000000, '64MiB' or '1TiB', not {value!r}")


def _count(value: Any, what: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise UsageError(f"{what} must be a number of files, not {value!r}")


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_files: int


def limits(config: dict[str, Any]) -> Limits:
    """The caps in force: the environment's (else the defaults), lowered by the project's
    config if it asks for less."""
    env_bytes, env_files = os.environ.get(ENV_MAX_BYTES), os.environ.get(ENV_MAX_FILES)
    max_bytes = parse_size(env_bytes, ENV_MAX_BYTES) if env_bytes else DEFAULT_MAX_BYTES
    max_files = _count(env_files, ENV_MAX_FILES) if env_files else DEFAULT_MAX_FILES
    configured = cfg.get(config, "checkout.max-bytes")
    if configured is not None:
        max_bytes = min(max_bytes, parse_size(configured, "checkout.max-bytes"))
    configured = cfg.get(config, "checkout.max-files")
    if configured is not None:
        max_files = min(max_files, _count(configured, "checkout.max-files"))
    return Limits(max_bytes, max_files)


def check_room(config: dict[str, Any], root: Path, nbytes: int, files: int, freed: int = 0) -> None:
    """Refuse a checkout writing ``nbytes`` in ``files`` files (``freed`` bytes removed
    first) that exceeds the caps (CheckoutTooLarge) or the file system's room
    (StorageError), before anything is written."""
    cap = limits(config)
    what = f"this checkout would write {human_size(nbytes)} in {files:,} file(s)"
    if nbytes > cap.max_bytes or files > cap.max_files:
        over = (
            f"more than checkout.max-bytes ({human_size(cap.max_bytes)})"
            if nbytes > cap.max_bytes
            else f"more than checkout.max-files ({cap.max_files:,})"
        )
        raise CheckoutTooLarge(
            f"{what}: {over}; nothing was written (raise the cap with {ENV_MAX_BYTES} / "
            f"{ENV_MAX_FILES} if you expect that much)"
        )
    try:
        st = os.statvfs(root)
    except OSError:
        return  # no figures (an exotic file system): the caps still held
    free = st.f_bavail * st.f_frsize
    if nbytes - freed > free:
        raise StorageError(
            f"{what}, but {root} has only {human_size(free)} free; nothing was written"
        )
    if st.f_files and files > st.f_favail:  # f_files 0: no inode limit (btrfs, some FUSE)
        raise StorageError(
            f"{what}, but {root} has only {st.f_favail:,} free inodes; nothing was written"
        )
