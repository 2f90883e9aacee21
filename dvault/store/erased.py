"""``.dvault/erased.json``: the objects ``dvault redact`` erased here, and why.

Redaction keeps commit ids (docs/retention.md, "Erasure: dvault redact"): the commits and
trees stay, the file contents named in a redaction go. Once they are gone from the local
packs, reading one must say "erased on DATE by USER: REASON", never "missing" or
"corrupt": the object store consults this file when an object is absent
(:meth:`dvault.store.objectstore.ObjectStore.get_raw`), and verify counts these objects
as *redacted*.

The file is canonical JSON written whole and crash-safe (temp file, fsync, rename). A
redaction is recorded *before* the packs are repacked without its objects, so a crash in
between leaves bytes that a later ``redact`` or ``gc`` removes, never an absent object
that looks like damage. Each record holds the path hashes (blake3 of the path, UTF-8),
never the paths. This module is the only one that reads or writes the file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from blake3 import blake3

from dvault import textsafe
from dvault.errors import CorruptObject
from dvault.fsutil import os_error, write_durable
from dvault.hashing import ObjectId, from_hex

FILE = "erased.json"
MAX_REASON = 1000
"""The longest reason recorded (characters); a longer one is refused as a usage error."""
MAX_FILE = 64 << 20


def path_hash(path: str) -> str:
    """What a redaction records for a path: blake3 of its UTF-8 bytes, hex."""
    return blake3(path.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class Redaction:
    """One ``dvault redact``: who erased which objects of which paths, when and why."""

    time_ns: int
    user: str
    reason: str
    path_hashes: tuple[str, ...]
    objects: frozenset[ObjectId]
    commits: tuple[str, ...]
    """The kept commits that held one of the paths (hex), altered by this redaction."""

    def to_json(self) -> dict[str, object]:
        return {
            "commits": sorted(self.commits),
            "objects": sorted(o.hex() for o in self.objects),
            "path_hashes": sorted(self.path_hashes),
            "reason": self.reason,
            "time_ns": self.time_ns,
            "user": self.user,
        }

    @classmethod
    def from_json(cls, value: object) -> Redaction:
        if not isinstance(value, dict):
            raise ValueError("a redaction is not an object")
        time_ns, user, reason = value["time_ns"], value["user"], value["reason"]
        hashes, objects, commits = value["path_hashes"], value["objects"], value["commits"]
        ok = (
            isinstance(time_ns, int)
            and not isinstance(time_ns, bool)
            and isinstance(user, str)
            and isinstance(reason, str)
            and len(reason) <= MAX_REASON
            and all(isinstance(x, list) for x in (hashes, objects, commits))
        )
        if not ok:
            raise ValueError("bad field")
        for text in [*hashes, *commits]:
            from_hex(text) if isinstance(text, str) else _bad()
        return cls(
            time_ns=time_ns,
            user=user,
            reason=reason,
            path_hashes=tuple(hashes),
            objects=frozenset(from_hex(o) if isinstance(o, str) else _bad() for o in objects),
            commits=tuple(commits),
        )

    def detail(self) -> str:
        """``erased on 2026-12-07 by Ann <ann@x>: GDPR request 42``, escaped for a terminal."""
        day = time.strftime("%Y-%m-%d", time.gmtime(self.time_ns / 1e9))
        return f"erased on {day} by {textsafe.line(self.user)}: {textsafe.line(self.reason)}"

    def again(self, path: str) -> str:
        """The line said when a file whose content this redaction erased is added,
        committed or pushed again: erasure is by content, so no remote keeps it."""
        return (
            f"{textsafe.line(path)}: its content was {self.detail()}; it will not be "
            "pushed to any remote or kept there (erasure is by content: prune deletes it)"
        )


def again(repo_dir: Path, files: Iterable[tuple[str, ObjectId]]) -> list[str]:
    """One line (:meth:`Redaction.again`) for each (path, content id) in ``files`` whose
    content a redaction recorded here erased; nothing read when there is no record."""
    if not (repo_dir / FILE).exists():
        return []
    gone = erased(repo_dir)
    return [gone[oid].again(path) for path, oid in files if oid in gone]


def _bad() -> ObjectId:
    raise ValueError("an id is not a string")


def load(repo_dir: Path) -> list[Redaction]:
    """Every redaction recorded here, oldest first (none when the file does not exist)."""
    path = repo_dir / FILE
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE + 1)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise os_error(exc, "read", path) from None
    try:
        if len(raw) > MAX_FILE:
            raise ValueError("too large")
        value = json.loads(raw)
        if not isinstance(value, dict) or value.get("version") != 1:
            raise ValueError("unknown version")
        records = value["redactions"]
        if not isinstance(records, list):
            raise ValueError("bad field")
        return [Redaction.from_json(r) for r in records]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise CorruptObject(f"{path} is not a valid list of redactions") from None


def erased(repo_dir: Path) -> dict[ObjectId, Redaction]:
    """Each erased object and the (first) redaction that erased it."""
    found: dict[ObjectId, Redaction] = {}
    for record in load(repo_dir):
        for oid in record.objects:
            found.setdefault(oid, record)
    return found


class ErasedIndex:
    """:func:`erased` of one directory, re-read only when the file changes (a store asks
    on every absent object; a partial clone has many)."""

    def __init__(self, repo_dir: Path) -> None:
        self.path = repo_dir / FILE
        self._key: tuple[int, int, int] | None = None
        self._found: dict[ObjectId, Redaction] = {}

    def get(self, oid: bytes) -> Redaction | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise os_error(exc, "read", self.path) from None
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key != self._key:
            self._found, self._key = erased(self.path.parent), key
        return self._found.get(ObjectId(bytes(oid)))


def add(repo_dir: Path, record: Redaction) -> None:
    """Append ``record`` (before its objects leave the packs: see the module docstring)."""
    records = [r.to_json() for r in [*load(repo_dir), record]]
    text = json.dumps({"redactions": records, "version": 1}, sort_keys=True, indent=1)
    write_durable(repo_dir / FILE, text.encode("utf-8") + b"\n")


__all__ = [
    "FILE",
    "MAX_REASON",
    "ErasedIndex",
    "Redaction",
    "add",
    "again",
    "erased",
    "load",
    "path_hash",
]
