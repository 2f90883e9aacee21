"""``dvault stash``: put uncommitted workspace changes aside as a commit, and back.

A stash entry is a commit whose tree is HEAD's with the workspace's changes under the
stashed paths (modified, new and deleted files), whose one parent is the HEAD it was
made on (its *base*), and which a ref ``refs/stash/<time_ns>`` keeps (refs.STASH; the
newest is ``stash@{0}``). The files' content is stored by the same scan ``dvault add``
uses.

The order is the durability order: the objects and the commit are sealed in a pack,
then the ref is written (fsync, rename), and only then are the workspace files reset to
HEAD. A kill in between leaves the entry listed and the edits either still in place or
reset: ``pop`` treats a file that already holds the stash's version as applied, so it
brings back everything in both cases.

``pop`` re-applies an entry on top of the current HEAD as a three-way change against its
base: a path is written only where the workspace still holds HEAD's version and HEAD did
not change it since the base; a path changed on both sides (or edited in the workspace)
is a conflict, and conflicts are refused with nothing written and the entry kept.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass

from dvault.commitobjects import Commit
from dvault.errors import UncommittedChanges, UsageError
from dvault.hashing import ObjectId
from dvault.identity import author
from dvault.refs import STASH
from dvault.repository import Repository
from dvault.store.state import StageEntry
from dvault.treeobjects import MODE_DIR, TreeEntry
from dvault.trees import Change, diff_trees, expand, lookup
from dvault.workspace import checkout as co
from dvault.workspace.mergestate import refuse_if_merging
from dvault.workspace.safety import check_changes
from dvault.workspace.staging import stage_paths, write_stage_trees

_INDEX = re.compile(r"(?:stash@\{)?(\d{1,6})\}?")


@dataclass(frozen=True)
class StashEntry:
    index: int
    ref: str
    id: ObjectId
    commit: Commit

    @property
    def name(self) -> str:
        return f"stash@{{{self.index}}}"


def entries(repo: Repository) -> list[StashEntry]:
    """Every stash entry, newest first."""
    return [
        StashEntry(i, ref, oid, repo.read_commit(oid))
        for i, (ref, oid) in enumerate(repo.refs.stashes())
    ]


def find(repo: Repository, which: str | int = 0) -> StashEntry:
    """The entry ``which`` names (``N`` or ``stash@{N}``), or a clear UsageError."""
    text = str(which)
    match = _INDEX.fullmatch(text)
    if match is None:
        raise UsageError(
            f"not a stash entry: {text!r} (use N or stash@{{N}}; see dvault stash list)"
        )
    index = int(match.group(1))
    found = repo.refs.stashes()
    if index >= len(found):
        raise UsageError(
            f"no stash entry stash@{{{index}}} (there are {len(found)}; see dvault stash list)"
        )
    ref, oid = found[index]
    return StashEntry(index, ref, oid, repo.read_commit(oid))


def _under(path: bytes, scopes: list[bytes]) -> bool:
    return any(not s or path == s or path.startswith(s + b"/") for s in scopes)


def changes(repo: Repository, entry: StashEntry) -> list[Change]:
    """What the entry changes relative to its base."""
    base = repo.read_commit(entry.commit.parents[0]).tree if entry.commit.parents else None
    return list(diff_trees(repo.store, base, entry.commit.tree))


def push(
    repo: Repository, message: str | None = None, paths: list[bytes] | None = None
) -> StashEntry | None:
    """Save the uncommitted changes under ``paths`` (default: every tracked root) and
    reset those paths of the workspace and the stage to HEAD. None: nothing to save."""
    with repo.locked():
        refuse_if_merging(repo, "a stash")
        branch, head = repo.refs.head()
        if head is None:
            raise UsageError("nothing to stash before the first commit (use dvault commit)")
        roots = repo.roots()
        scopes = list(paths) if paths else [os.fsencode(r) for r in roots]
        if not scopes:
            raise UsageError("nothing tracked yet; use dvault add PATH")
        head_commit = repo.read_commit(head)
        _refuse_staged_only(repo, head_commit.tree, scopes)
        stage_paths(repo, scopes, "stash")
        stage_tree = repo.state.stage_tree()
        saved = [
            c
            for c in diff_trees(repo.store, head_commit.tree, stage_tree)
            if _under(c.path, scopes)
        ]
        if not saved:
            return None
        edits: dict[bytes, TreeEntry | None] = {c.path: c.new for c in saved}

        def whole() -> Iterator[tuple[bytes, TreeEntry]]:
            root = TreeEntry(b"", MODE_DIR, 0, head_commit.tree)
            merged = dict(expand(repo.store, b"", root))
            merged.update((p, e) for p, e in edits.items() if e is not None)
            return iter(sorted((p, e) for p, e in merged.items() if edits.get(p, e) is not None))

        subject = head_commit.message.splitlines()[0] if head_commit.message else ""
        text = message or f"WIP on {branch or head.hex()[:12]}: {head.hex()[:12]} {subject}"
        with repo.store.writer() as writer:
            tree = write_stage_trees(writer, whole, head_commit.tree, edits)
            stash = Commit(
                tree=tree,
                parents=(head,),
                author=author(repo.config),
                time_ns=time.time_ns(),
                message=text,
                roots=roots,
                meta={"stash": [os.fsdecode(s) for s in scopes]},
            )
            oid = writer.put(stash)
        # the pack is sealed: the ref may point at the commit, and only once the ref is
        # durable may the workspace lose the edits
        ref = f"{STASH}{stash.time_ns:020d}"
        repo.refs.update(ref, oid, f"stash: {text}")
        reset = [Change(c.path, c.new, c.old) for c in saved]
        co.apply(repo, reset, None)
        co.record(repo, reset, None)
    return StashEntry(0, ref, oid, stash)


def _refuse_staged_only(repo: Repository, head_tree: ObjectId, scopes: list[bytes]) -> None:
    """A stash saves the files as they are on disk: refuse (nothing changed) when a
    staged version under ``scopes`` is neither on disk nor in HEAD, which it would drop."""
    stage_tree = repo.state.stage_tree()
    if stage_tree is None or stage_tree == head_tree:
        return
    lost = []
    for change in diff_trees(repo.store, head_tree, stage_tree):
        if change.new is None or not _under(change.path, scopes):
            continue
        if not _same(_now(repo, change.path), change.new):
            lost.append(change.path)
    if lost:
        first = shlex.quote(os.fsdecode(lost[0]))
        raise UncommittedChanges(
            f"stash saves files as they are on disk, and {len(lost)} path(s) have a staged "
            f"version that is neither on disk nor committed ({first}"
            f"{' ...' if len(lost) > 1 else ''}): commit the stage first, or stage the "
            f"files as they are with `dvault add {first}`"
        )


@dataclass
class PopReport:
    entry: StashEntry
    written: int = 0
    removed: int = 0
    already: int = 0


def _now(repo: Repository, path: bytes) -> StageEntry | str | None:
    return co.current_content(repo, path, repo.state.stage_get(path))


def _same(a: StageEntry | TreeEntry | str | None, b: TreeEntry | None) -> bool:
    if isinstance(a, str):
        return False
    if a is None or b is None:
        return a is None and b is None
    return a.mode == b.mode and a.id == b.id


def apply(repo: Repository, which: str | int = 0, drop_after: bool = True) -> PopReport:
    """Re-apply an entry on top of HEAD (three-way against its base), then drop it."""
    with repo.locked():
        refuse_if_merging(repo, "a stash pop")
        entry = find(repo, which)
        _, head = repo.refs.head()
        head_tree = repo.read_commit(head).tree if head else None
        todo: list[Change] = []
        conflicts: list[bytes] = []
        report = PopReport(entry)
        for change in changes(repo, entry):
            now = _now(repo, change.path)
            ours = lookup(repo.store, head_tree, change.path) if head_tree else None
            if _same(now, change.new):
                report.already += 1
            elif _same(ours, change.old) and _same(now, ours):
                todo.append(Change(change.path, ours, change.new))
            else:
                conflicts.append(change.path)
        if conflicts:
            shown = ", ".join(os.fsdecode(p) for p in conflicts[:20])
            more = f" and {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
            raise UncommittedChanges(
                f"{entry.name} not applied: {len(conflicts)} path(s) changed since it was "
                f"saved (in HEAD or the workspace): {shown}{more}; nothing changed, the "
                "entry is kept"
            )
        check_changes(repo, todo, entry.commit.tree, entry.commit.roots)
        done = co.apply(repo, todo, None)
        report.written, report.removed = done.written, done.removed
        if drop_after:
            repo.refs.delete(entry.ref, f"stash: popped {entry.commit.message}")
    return report


def drop(repo: Repository, which: str | int) -> StashEntry:
    """Forget an entry (its objects stay until gc finds nothing else keeps them)."""
    with repo.locked():
        entry = find(repo, which)
        repo.refs.delete(entry.ref, f"stash: dropped {entry.commit.message}")
    return entry
