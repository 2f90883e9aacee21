"""A merge that stopped on conflicts: the conflict state, its resolution, and its end.

:func:`stop` is where ``dvault merge`` goes when paths conflict. The clean part of the
merge (ours for every conflicting path) becomes the stage and the workspace; each
conflicting path is then shown in the workspace:

- a label file (``.csv``, ``.tsv``, ``.jsonl``, ``.txt`` under the size limit) both sides
  changed: the path holds the line merge with git-style blocks
  (``<<<<<<< ours`` / ``=======`` / ``>>>>>>> theirs``) where they disagree;
- anything else (binary data, modify/delete, file/directory): the path keeps ours (or
  stays absent when ours deleted it), and theirs is written beside it as ``path~theirs``
  (a directory of theirs as a directory ``path~theirs/``).

The stage keeps ours at each conflicting path until the path is resolved: with
:func:`resolve` (``checkout --ours|--theirs -- PATH``), or by editing it and ``dvault add``.
:func:`finish` (``merge --continue``) commits the stage with parents HEAD and the other
commit; :func:`abort` (``merge --abort``) puts HEAD's state back.

Kill safety: ``.dvault/MERGE_STATE`` is written durably after every refusal and before
the workspace changes; the marker blobs and merged trees are sealed in a pack before
that. A kill before it leaves the old state; after it, a resumable one (``--abort``
restores HEAD from any partial workspace, ``--continue`` finishes). ``--continue``'s
commit is sealed before HEAD moves, and MERGE_STATE goes last; a kill between the two is
recognised (HEAD's parents are the recorded pair) and the next ``--continue`` only
removes the file.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass

from dvault.commitobjects import Commit
from dvault.errors import CheckFailed, UncommittedChanges, UsageError
from dvault.hashing import ObjectId
from dvault.identity import author
from dvault.ops.commits import lineage_meta, write_lock
from dvault.ops.switch import switch_core
from dvault.ops.undo import move_to
from dvault.repository import Repository
from dvault.store.objectstore import ObjectWriter
from dvault.treeobjects import TreeEntry
from dvault.trees import Change, flatten, lookup
from dvault.trees.merge import ADD_ADD, BOTH_MODIFIED, Conflict, TreeMerge
from dvault.trees.textmerge import TEXT_MERGE_LIMIT, is_line_based, with_markers
from dvault.workspace import checkout as co
from dvault.workspace import mergestate
from dvault.workspace.limits import check_room
from dvault.workspace.mergestate import COPY_SUFFIX, ConflictRecord, MergeState
from dvault.workspace.safety import SymlinkGuard, check_changes
from dvault.workspace.scan import in_scopes

SHOWN = 50


class MergeStopped(CheckFailed):
    """The merge stopped on conflicts: the conflict state is in the workspace (exit 1)."""

    def __init__(self, message: str, conflicts: list[ConflictRecord]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


@dataclass
class ContinueReport:
    commit: ObjectId
    message: str
    already_done: bool = False


def _listing(paths: list[bytes]) -> str:
    shown = ", ".join(os.fsdecode(p) for p in paths[:SHOWN])
    return shown + (f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else "")


def marker_files(
    repo: Repository, writer: ObjectWriter, conflicts: list[Conflict]
) -> dict[bytes, TreeEntry]:
    """For each label file both sides changed, its content with conflict blocks, stored
    in ``writer``: {path: entry of the marked-up file}."""
    marked: dict[bytes, TreeEntry] = {}
    for c in conflicts:
        o, t, b = c.ours, c.theirs, c.base
        if c.kind not in (BOTH_MODIFIED, ADD_ADD) or o is None or t is None:
            continue
        if o.is_dir or t.is_dir or not is_line_based(c.path) or o.mode != t.mode:
            continue
        if max(o.size, t.size, b.size if b is not None else 0) > TEXT_MERGE_LIMIT:
            continue
        sides = [b"".join(repo.store.iter_file_content(e.id, e.size)) for e in (o, t)]
        base = b"".join(repo.store.iter_file_content(b.id, b.size)) if b is not None else b""
        text = with_markers(base, *sides)
        if text is None:
            continue
        oid, size = writer.put_file(io.BytesIO(text), len(text))
        marked[c.path] = TreeEntry(o.name, o.mode, size, oid)
    return marked


def stop(
    repo: Repository,
    rev: str,
    message: str,
    head: ObjectId,
    other: ObjectId,
    base: ObjectId | None,
    head_tree: ObjectId,
    result: TreeMerge,
    marked: dict[bytes, TreeEntry],
) -> MergeStopped:
    """Write the conflict state (lock held, merged trees and marker blobs sealed):
    refuse first, then MERGE_STATE, then the workspace and the stage."""
    store = repo.store
    sparse = repo.state.sparse()
    changes = co.plan(repo, result.tree, None, False, head_tree)
    extras: list[Change] = []
    records: list[ConflictRecord] = []
    for c in result.conflicts:
        copies: list[bytes] = []
        if c.path in marked:
            extras.append(Change(c.path, c.ours, marked[c.path]))
        elif c.theirs is not None:
            copy = c.path + COPY_SUFFIX
            if c.theirs.is_dir:
                for sub, entry in sorted(flatten(store, c.theirs.id).items()):
                    extras.append(Change(copy + b"/" + sub, None, entry))
                    copies.append(copy + b"/" + sub)
            else:
                extras.append(Change(copy, None, c.theirs))
                copies.append(copy)
            if lookup(store, result.tree, copy) is not None:
                raise UsageError(
                    f"cannot show the conflict at {os.fsdecode(c.path)}: "
                    f"{os.fsdecode(copy)} is tracked (nothing changed)"
                )
        records.append(
            ConflictRecord(c.path, c.kind, c.ours, c.theirs, tuple(copies), c.path in marked)
        )
    materialised = [c for c in changes if in_scopes(c.path, sparse)]
    extras = [c for c in extras if in_scopes(c.path, sparse)]
    check_changes(repo, materialised, result.tree, repo.roots())
    in_the_way = co.find_conflicts(repo, materialised, False)
    in_the_way += [
        c.path
        for c in extras
        if c.old is None and os.path.lexists(os.path.join(os.fsencode(repo.root), c.path))
    ]
    if in_the_way:
        raise UncommittedChanges(
            f"merge of {rev} would overwrite files in {len(in_the_way)} path(s) "
            f"(move them away first; nothing changed): {_listing(sorted(in_the_way))}"
        )
    written = [c.new for c in materialised + extras if c.new is not None]
    total = sum(e.size for e in written if not e.is_dir)
    check_room(repo.config, repo.root, total, len(written))
    state = MergeState(head, other, base, result.tree, rev, message, tuple(records))
    mergestate.save(repo, state)  # before the workspace changes: from here on, resumable
    with repo.progress("checkout", total) as tick:
        co.apply(repo, materialised + extras, tick)
    co.record(repo, changes, result.tree)
    lines = [f"{c.kind} {os.fsdecode(c.path)}" for c in result.conflicts[:SHOWN]]
    extra = len(result.conflicts) - SHOWN
    more = f"; ... and {extra} more" if extra > 0 else ""
    return MergeStopped(
        f"merge of {rev} stopped: {len(records)} conflicting path(s): "
        + "; ".join(lines)
        + more
        + ". Resolve each (dvault checkout --ours|--theirs -- PATH, or edit it and "
        "dvault add PATH), then dvault merge --continue; or dvault merge --abort",
        records,
    )


def _require(repo: Repository) -> MergeState:
    state = mergestate.load(repo)
    if state is None:
        raise UsageError("no merge in progress")
    return state


def _remove_copies(repo: Repository, paths: list[bytes]) -> None:
    guard = SymlinkGuard(os.fsencode(repo.root))
    root = os.fsencode(repo.root)
    for path in sorted(paths, reverse=True):
        guard.remove(path)
        parent = os.path.dirname(path)
        while parent.endswith(COPY_SUFFIX) or COPY_SUFFIX + b"/" in parent + b"/":
            try:
                os.rmdir(os.path.join(root, parent))
            except OSError:
                break
            parent = os.path.dirname(parent)


def resolve(repo: Repository, paths: list[str], side: str) -> list[bytes]:
    """``checkout --ours|--theirs -- PATH...``: take that side's version of each
    conflicting path (workspace and stage), remove its side-by-side copy, and mark it
    resolved. Returns the paths."""
    rels = [repo.relpath(p) for p in paths]
    with repo.locked():
        state = _require(repo)
        records = []
        for rel in rels:
            rec = state.find(rel)
            if rec is None:
                raise UsageError(
                    f"{os.fsdecode(rel)} is not a conflicting path of the merge in progress "
                    "(dvault status lists them)"
                )
            records.append(rec)
        commit_id = state.head if side == "ours" else state.other
        take = [
            r.path
            for r in records
            if (r.ours if side == "ours" else r.theirs) is not None
            or repo.state.stage_get(r.path) is not None
        ]
        if take:  # mirrored, not overlaid: the side that deleted a path deletes it here
            switch_core(repo, commit_id, take, True, lambda: None, overlay=False)
        _remove_copies(repo, [p for r in records for p in r.copies])
        mergestate.save(repo, state.with_resolved(set(rels)))
    return rels


def finish(repo: Repository) -> ContinueReport:
    """``merge --continue``: commit the stage with parents HEAD and the other commit,
    once every conflicting path is resolved; then forget the merge state."""
    with repo.locked():
        state = _require(repo)
        _, head = repo.refs.head()
        if head != state.head:
            if head is not None and repo.read_commit(head).parents == (state.head, state.other):
                mergestate.remove(repo)  # a kill after the commit, before this file went
                return ContinueReport(head, state.message, already_done=True)
            raise UsageError(
                "HEAD moved since the merge stopped; undo the merge with dvault merge --abort"
            )
        left = mergestate.unresolved(repo, state)
        if left:
            raise CheckFailed(
                f"{len(left)} path(s) still unmerged: {_listing(left)} (dvault checkout "
                "--ours|--theirs -- PATH, or edit it and dvault add PATH)"
            )
        marked = []
        for rec in state.conflicts:
            staged = repo.state.stage_get(rec.path)
            if not rec.markers or staged is None or staged.size > TEXT_MERGE_LIMIT:
                continue
            content = b"".join(repo.store.iter_file_content(staged.id, staged.size))
            if mergestate.has_markers(content):
                marked.append(rec.path)
        if marked:
            raise CheckFailed(
                f"conflict markers still staged in {_listing(marked)}: edit them out and "
                "dvault add PATH, or dvault checkout --ours|--theirs -- PATH"
            )
        root = os.fsencode(repo.root)
        tree = repo.state.stage_tree()
        assert tree is not None, "a merge stage always has a tree"
        copies = [
            p
            for r in state.conflicts
            for p in r.copies
            if os.path.lexists(os.path.join(root, p)) or lookup(repo.store, tree, p) is not None
        ]
        if copies:
            raise CheckFailed(
                f"side-by-side copies still in the workspace or staged: {_listing(copies)}; "
                "once the path holds what you want, remove them (dvault rm PATH~theirs, "
                "or delete the file)"
            )
        with repo.store.writer() as writer:
            meta = lineage_meta(repo, writer, [], [])
            meta["merge"] = {
                "rev": state.rev,
                "base": state.base.hex() if state.base is not None else None,
            }
            commit = Commit(
                tree=tree,
                parents=(state.head, state.other),
                author=author(repo.config, repo.root),
                time_ns=time.time_ns(),
                message=state.message,
                roots=repo.roots(),
                meta=meta,
            )
            oid = writer.put(commit)
        # sealed above; now HEAD may move, and the merge state goes last
        repo.refs.update_head_target(oid, f"merge: {state.message.splitlines()[0]}")
        write_lock(repo, oid)
        mergestate.remove(repo)
    return ContinueReport(oid, state.message)


def abort(repo: Repository) -> ObjectId:
    """``merge --abort``: the stage and workspace as HEAD has them (uncommitted changes
    made during the merge are discarded, untracked files kept), copies removed, the
    merge state forgotten. Returns HEAD."""
    with repo.locked():
        state = _require(repo)
        _, head = repo.refs.head()
        if head != state.head:
            if head is not None and repo.read_commit(head).parents == (state.head, state.other):
                mergestate.remove(repo)
                raise UsageError("the merge was already committed; dvault reset --hard HEAD~1")
            raise UsageError("HEAD moved since the merge stopped; nothing to abort")
        root = os.fsencode(repo.root)
        copies = [
            p for r in state.conflicts for p in r.copies if os.path.lexists(os.path.join(root, p))
        ]
        _remove_copies(repo, copies)
        move_to(repo, state.head, state.tree, force=True, move=lambda: None)
        mergestate.remove(repo)
    return state.head


__all__ = ["ContinueReport", "MergeStopped", "abort", "finish", "marker_files", "resolve", "stop"]
