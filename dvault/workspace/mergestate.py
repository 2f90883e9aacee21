"""The merge in progress: ``.dvault/MERGE_STATE``, parsed and written only here.

A merge that stops on conflicts records what it needs to finish or undo itself — HEAD
and the other commit, the merge base, the message, the tree of the clean part, and each
conflicting path with both sides' entries and the side-by-side copies it wrote — in one
JSON file, written with :func:`~dvault.fsutil.write_durable` *before* the workspace is
touched, so a kill at any point leaves either the old state or one that ``dvault merge
--continue`` or ``--abort`` finishes. Its presence is what "a merge is in progress"
means: commands that would lose the merge refuse while it is there
(:func:`refuse_if_merging`). The file is read as hostile (a damaged one is one clear
line, never a traceback).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field, replace
from typing import Any

from dvault.errors import StorageError, UsageError
from dvault.fsutil import fsync_dir, write_durable
from dvault.hashing import ObjectId
from dvault.repository import Repository
from dvault.treeobjects import TreeEntry

MERGE_STATE = "MERGE_STATE"
VERSION = 1
COPY_SUFFIX = b"~theirs"
"""A binary conflict keeps ours at its path and theirs beside it at ``path~theirs``."""


@dataclass(frozen=True)
class ConflictRecord:
    """One conflicting path: both sides' entries (None: that side deleted it),
    ``staged`` the entry the merge left in the stage (ours), the files written beside it
    (``copies``: theirs' version), and whether ``checkout --ours|--theirs`` resolved it."""

    path: bytes
    kind: str
    ours: TreeEntry | None
    theirs: TreeEntry | None
    copies: tuple[bytes, ...] = ()
    markers: bool = False
    resolved: bool = False


@dataclass(frozen=True)
class MergeState:
    head: ObjectId
    other: ObjectId
    base: ObjectId | None
    tree: ObjectId
    rev: str
    message: str
    conflicts: tuple[ConflictRecord, ...] = field(default_factory=tuple)

    def find(self, path: bytes) -> ConflictRecord | None:
        return next((c for c in self.conflicts if c.path == path), None)

    def with_resolved(self, paths: set[bytes]) -> MergeState:
        done = tuple(
            replace(c, resolved=True, copies=()) if c.path in paths else c for c in self.conflicts
        )
        return replace(self, conflicts=done)


def _entry_json(e: TreeEntry | None) -> dict[str, Any] | None:
    return None if e is None else {"mode": e.mode, "size": e.size, "id": e.id.hex()}


def _oid(value: object) -> ObjectId:
    if not isinstance(value, str) or len(value) != 64:
        raise ValueError("not an object id")
    return ObjectId(bytes.fromhex(value))


def _path(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("not a path")
    path = bytes.fromhex(value)
    if not path or path.startswith(b"/") or b"\0" in path or b".." in path.split(b"/"):
        raise ValueError("unsafe path")
    return path


def _entry(value: object, name: bytes) -> TreeEntry | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("not an entry")
    mode, size = value["mode"], value["size"]
    if not isinstance(mode, int) or not isinstance(size, int) or size < 0:
        raise ValueError("bad entry")
    return TreeEntry(name.rpartition(b"/")[2], mode, size, _oid(value["id"]))


def encode(state: MergeState) -> bytes:
    body = {
        "version": VERSION,
        "head": state.head.hex(),
        "other": state.other.hex(),
        "base": state.base.hex() if state.base is not None else None,
        "tree": state.tree.hex(),
        "rev": state.rev,
        "message": state.message,
        "conflicts": [
            {
                "path": c.path.hex(),
                "kind": c.kind,
                "ours": _entry_json(c.ours),
                "theirs": _entry_json(c.theirs),
                "copies": [p.hex() for p in c.copies],
                "markers": c.markers,
                "resolved": c.resolved,
            }
            for c in state.conflicts
        ],
    }
    return json.dumps(body, indent=1).encode()


def decode(data: bytes) -> MergeState:
    body = json.loads(data)
    if not isinstance(body, dict) or body.get("version") != VERSION:
        raise ValueError("unknown version")
    records = []
    for c in body["conflicts"]:
        path = _path(c["path"])
        records.append(
            ConflictRecord(
                path,
                str(c["kind"]),
                _entry(c["ours"], path),
                _entry(c["theirs"], path),
                tuple(_path(p) for p in c["copies"]),
                bool(c["markers"]),
                bool(c["resolved"]),
            )
        )
    rev, message = body["rev"], body["message"]
    if not isinstance(rev, str) or not isinstance(message, str):
        raise ValueError("bad text")
    base = body["base"]
    return MergeState(
        _oid(body["head"]),
        _oid(body["other"]),
        _oid(base) if base is not None else None,
        _oid(body["tree"]),
        rev,
        message,
        tuple(records),
    )


def load(repo: Repository) -> MergeState | None:
    """The merge in progress, or None."""
    try:
        data = (repo.dir / MERGE_STATE).read_bytes()
    except FileNotFoundError:
        return None
    try:
        return decode(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(
            f"damaged {repo.dir / MERGE_STATE} ({exc}): remove it to forget the merge in "
            "progress, then dvault reset --hard HEAD"
        ) from None


def save(repo: Repository, state: MergeState) -> None:
    write_durable(repo.dir / MERGE_STATE, encode(state))


def remove(repo: Repository) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(repo.dir / MERGE_STATE)
    fsync_dir(repo.dir)


def refuse_if_merging(repo: Repository, what: str) -> None:
    """Raise (exit 2) when a merge is in progress: ``what`` would lose it."""
    if (repo.dir / MERGE_STATE).exists():
        raise UsageError(
            f"a merge is in progress: {what} would lose it; finish it with "
            "dvault merge --continue, or undo it with dvault merge --abort"
        )


def unresolved(repo: Repository, state: MergeState) -> list[bytes]:
    """Conflicting paths not yet resolved: not taken with ``checkout --ours|--theirs``
    and not re-added (the stage still holds what the merge left there, ours)."""
    from dvault.trees import lookup  # deferred: start-up (every status loads this module)

    stage_tree = repo.state.stage_tree()
    paths = []
    for c in state.conflicts:
        if c.resolved:
            continue
        staged = lookup(repo.store, stage_tree, c.path) if stage_tree is not None else None
        if (staged.id if staged is not None else None) == (c.ours.id if c.ours else None):
            paths.append(c.path)
    return paths


def has_markers(content: bytes) -> bool:
    """Whether ``content`` still holds a conflict block written by the merge."""
    lines = content.splitlines()
    return any(line.startswith(b"<<<<<<< ") for line in lines) and any(
        line.startswith(b">>>>>>> ") for line in lines
    )


__all__ = [
    "COPY_SUFFIX",
    "MERGE_STATE",
    "ConflictRecord",
    "MergeState",
    "has_markers",
    "load",
    "refuse_if_merging",
    "remove",
    "save",
    "unresolved",
]
