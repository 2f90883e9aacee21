"""``.dvault/shallow``: the commits fetched whole without their history.

A fetch that brings a commit without its history (the git hooks' fetch of a pinned
commit: the commit chain is fetched so ``log`` works, but not the parents' trees and
data) records the commit here first, as git records a shallow clone's boundary in
``.git/shallow``. ``verify`` then tells history that was never fetched ("not fetched")
from damage, and ``fetch --all-history`` brings it and empties the file.

One line per commit, its 64-digit id. The file is written whole, crash-safe (temp file,
fsync, rename); a commit is recorded *before* the fetch that brings it, so a crash in
between leaves an entry for a commit that may not be here (harmless: entries for absent
commits are ignored), never a fetched commit whose missing history looks like damage.
This module is the only one that reads or writes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dvault.errors import CorruptObject
from dvault.fsutil import os_error, write_durable
from dvault.hashing import ObjectId, from_hex

FILE = "shallow"


def load(repo_dir: Path) -> set[ObjectId]:
    """The recorded commits (none when the file does not exist)."""
    path = repo_dir / FILE
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return set()
    except UnicodeDecodeError:
        raise CorruptObject(f"{path} is not a list of commit ids") from None
    except OSError as exc:
        raise os_error(exc, "read", path) from None
    found: set[ObjectId] = set()
    for number, line in enumerate(text.splitlines(), 1):
        try:
            found.add(from_hex(line.strip()))
        except ValueError:
            raise CorruptObject(f"{path}, line {number}: not a commit id") from None
    return found


def _save(repo_dir: Path, commits: set[ObjectId]) -> None:
    path = repo_dir / FILE
    if not commits:
        path.unlink(missing_ok=True)
        return
    write_durable(path, "".join(f"{c.hex()}\n" for c in sorted(commits)).encode("ascii"))


def add(repo_dir: Path, commits: Iterable[bytes]) -> None:
    """Record ``commits`` as fetched without their history."""
    have = load(repo_dir)
    more = {ObjectId(bytes(c)) for c in commits} - have
    if more:
        _save(repo_dir, have | more)


def clear(repo_dir: Path) -> None:
    """Forget every entry: the whole history is here (``fetch --all-history``)."""
    _save(repo_dir, set())


__all__ = ["FILE", "add", "clear", "load"]
