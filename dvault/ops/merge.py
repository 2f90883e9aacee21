"""``dvault merge REV``: join another line of history into the current branch.

A fast-forward (HEAD is behind REV) stays one unless ``no_ff``; otherwise the trees of
HEAD and REV are merged three-way against their merge base
(:func:`dvault.revisions.merge_base`, :func:`dvault.trees.merge.merge_trees`), label
files both sides changed are merged line by line (``trees/textmerge.py``), and a clean
result becomes a commit whose parents are HEAD then REV, checked out like a
fast-forward. The durability order holds: merged blobs, trees and the commit are sealed
in a pack before HEAD moves.

With conflicts the merge stops (``ops/conflicts.py``): the clean part is staged and
checked out, each conflicting path is shown in the workspace, ``.dvault/MERGE_STATE``
records the merge in progress, and :class:`~dvault.ops.conflicts.MergeStopped` names
the paths; ``merge --continue`` or ``--abort`` ends it. A conflict between the tracked
roots themselves (one side made a root a file, the other a folder), or conflicts in a
merge that also changes the tracked roots, is still refused with nothing written
(:class:`MergeConflicts`).
"""

from __future__ import annotations

import io
import os
import shlex
import time
from dataclasses import dataclass, field

from dvault import attributes
from dvault.commitobjects import Commit
from dvault.errors import CheckFailed, UncommittedChanges, UsageError
from dvault.hashing import ObjectId, ObjectType
from dvault.identity import author
from dvault.ops.commits import lineage_meta, signer_for
from dvault.ops.conflicts import marker_files, stop
from dvault.ops.switch import switch_core
from dvault.ops.tracking import update_gitignore
from dvault.repository import Repository
from dvault.revisions import merge_base
from dvault.store.objectstore import ObjectWriter
from dvault.treeobjects import MODE_LINK, TreeEntry
from dvault.trees.merge import Conflict, FileMerger, merge_trees
from dvault.trees.textmerge import TEXT_MERGE_LIMIT, is_line_based, merge_lines
from dvault.trees.unionmerge import union_lines
from dvault.workspace.checkout import CheckoutReport
from dvault.workspace.mergestate import refuse_if_merging
from dvault.workspace.status import compute_status


class MergeConflicts(CheckFailed):
    """Both sides changed paths in ways that do not combine; nothing was written."""

    def __init__(self, message: str, conflicts: list[Conflict]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


@dataclass
class MergeReport:
    """What a merge did: ``kind`` is ``up-to-date``, ``fast-forward`` or ``merge``;
    ``commit`` is HEAD afterwards; ``merged_files`` the label files merged line by line."""

    kind: str
    commit: ObjectId
    base: ObjectId | None = None
    merged_files: list[bytes] = field(default_factory=list)
    checkout: CheckoutReport | None = None


def merge(
    repo: Repository,
    rev: str,
    no_ff: bool = False,
    message: str | None = None,
    accept_roots: bool = False,
    sign: bool = False,
    key: str | None = None,
) -> MergeReport:
    """Merge revision ``rev`` into the current branch (see the module docstring); with
    ``sign`` the merge commit is signed like ``commit --sign`` (the key loads first)."""
    if message is not None and not message.strip():
        raise UsageError("empty merge message; leave -m out for the default one")
    signer = signer_for(sign, key)
    with repo.locked():
        refuse_if_merging(repo, "another merge")
        branch, head = repo.refs.head()
        if head is None:
            raise UsageError("HEAD has no commits yet: there is nothing to merge into")
        target = repo.resolve(rev)
        dirty = compute_status(repo)
        if dirty.staged or dirty.modified or dirty.deleted:
            raise UncommittedChanges(
                "merge needs a clean workspace (`dvault status` lists the changes): save "
                f"them with `dvault stash push && dvault merge {shlex.quote(rev)}`, then "
                "`dvault stash pop`"
            )
        base = merge_base(repo.store, head, target)
        if base == target:
            return MergeReport("up-to-date", head, base)
        if base == head and not no_ff:
            note = f"merge {rev}: fast-forward"
            report = _advance(repo, target, note, accept_roots)
            return MergeReport("fast-forward", target, base, checkout=report)
        ours, theirs = repo.read_commit(head), repo.read_commit(target)
        base_commit = repo.read_commit(base) if base is not None else None
        into = branch if branch is not None else "HEAD"
        text = message or f"Merge {rev} into {into}"
        with repo.store.writer() as writer:
            result = merge_trees(
                repo.store,
                base_commit.tree if base_commit is not None else None,
                ours.tree,
                theirs.tree,
                _line_merger(repo, writer),
            )
            roots, root_conflicts = _merge_roots(
                base_commit.roots if base_commit is not None else {}, ours.roots, theirs.roots
            )
            conflicts = result.conflicts + root_conflicts
            if root_conflicts or (conflicts and roots != ours.roots):
                # raising aborts the writer: the merged blobs are not kept
                raise MergeConflicts(_conflict_message(rev, conflicts), conflicts)
            for oid, body in result.objects:
                if not writer.has(oid):
                    writer.put_raw(ObjectType.TREE, body)
            if conflicts:
                marked = marker_files(repo, writer, result.conflicts)
            else:
                commit = _merge_commit(
                    repo, writer, result.tree, head, target, rev, text, roots, base
                )
                oid = writer.put(commit if signer is None else signer(commit))
        if conflicts:  # the merged trees and marker blobs are sealed: show the conflicts
            raise stop(repo, rev, text, head, target, base, ours.tree, result, marked)
        # the pack holding the merge is sealed and indexed; only now may HEAD move to it
        report = _advance(repo, oid, f"merge: {text.splitlines()[0]}", accept_roots)
        return MergeReport("merge", oid, base, result.merged_files, report)


def _merge_commit(
    repo: Repository,
    writer: ObjectWriter,
    tree: ObjectId,
    head: ObjectId,
    target: ObjectId,
    rev: str,
    text: str,
    roots: dict[str, str],
    base: ObjectId | None,
) -> Commit:
    meta = lineage_meta(repo, writer, [], [])
    meta["merge"] = {"rev": rev, "base": base.hex() if base is not None else None}
    return Commit(
        tree=tree,
        parents=(head, target),
        author=author(repo.config, repo.root),
        time_ns=time.time_ns(),
        message=text,
        roots=roots,
        meta=meta,
    )


def _advance(repo: Repository, new: ObjectId, note: str, accept_roots: bool) -> CheckoutReport:
    """Check ``new`` out and move the current branch to it (lock held): a fast-forward."""
    report = switch_core(
        repo,
        new,
        None,
        False,
        lambda: repo.refs.update_head_target(new, note),
        accept_roots=accept_roots,
    )
    update_gitignore(repo, list(repo.roots()))
    return report


def _line_merger(repo: Repository, writer: ObjectWriter) -> FileMerger:
    """Merges files both sides changed, storing the result: the strategy a
    ``.dvaultattributes`` rule names for the path (``dvault/attributes.py``), else a line
    merge of label files. Loaded before anything is merged: a bad file refuses the merge."""
    rules = attributes.load(repo.root)

    def merge_file(path: bytes, b: TreeEntry, o: TreeEntry, t: TreeEntry) -> TreeEntry | None:
        strategy = rules.strategy(path)
        if strategy == attributes.OURS:
            return TreeEntry(b"", o.mode, o.size, o.id)
        if strategy == attributes.THEIRS:
            return TreeEntry(b"", t.mode, t.size, t.id)
        if strategy == attributes.BINARY or MODE_LINK in (b.mode, o.mode, t.mode):
            return None
        if strategy is None and not is_line_based(path):
            return None
        if max(b.size, o.size, t.size) > TEXT_MERGE_LIMIT:
            return None
        # read at the size each tree announces: a (hostile) chunk list claiming to be
        # small is refused before it is gathered into memory
        sides = [b"".join(repo.store.iter_file_content(e.id, e.size)) for e in (b, o, t)]
        join = union_lines if strategy == attributes.UNION else merge_lines
        merged = join(*sides)
        if merged is None:
            return None
        oid, size = writer.put_file(io.BytesIO(merged), len(merged))
        mode = t.mode if o.mode == b.mode else o.mode
        return TreeEntry(b"", mode, size, oid)

    return merge_file


def _merge_roots(
    base: dict[str, str], ours: dict[str, str], theirs: dict[str, str]
) -> tuple[dict[str, str], list[Conflict]]:
    """The tracked roots after the merge, three-way like the tree: a root one side added,
    removed or re-kinded is taken; different kinds on both sides conflict."""
    merged: dict[str, str] = {}
    conflicts: list[Conflict] = []
    for path in sorted(base.keys() | ours.keys() | theirs.keys()):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if o == t or b == t:
            value = o
        elif b == o:
            value = t
        else:
            conflicts.append(Conflict(os.fsencode(path), "root-kind", None, None, None))
            continue
        if value is not None:
            merged[path] = value
    return merged, conflicts


def _conflict_message(rev: str, conflicts: list[Conflict]) -> str:
    lines = [f"{c.kind} {os.fsdecode(c.path)}" for c in conflicts[:50]]
    more = f"; ... and {len(conflicts) - 50} more" if len(conflicts) > 50 else ""
    return (
        f"merge of {rev} refused: {len(conflicts)} conflicting path(s), nothing was changed "
        f"(conflicts between tracked roots, or in a merge that changes the tracked roots, "
        f"cannot be resolved in the workspace): " + "; ".join(lines) + more
    )


__all__ = ["MergeConflicts", "MergeReport", "merge"]
