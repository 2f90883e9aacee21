"""Undoing history: ``revert`` (a new commit that takes one commit's changes back) and
``reset`` (move the current branch, and with ``--hard`` the stage and workspace too).

``revert`` is the append-only way back: nothing is rewritten, the bad commit stays in
history and a new one on top of it restores what it changed. It is a *simple* revert:
each path the commit changed must still hold that commit's version at HEAD, else the path
is a conflict and the revert is refused, naming the paths, before anything is written (a
three-way revert that resolves them belongs with ``merge``).

``reset`` moves a branch; the branch's reflog (``.dvault/logs/refs/heads/<name>``) keeps
the old tip, and the result names it, so ``dvault reset --hard OLD`` goes back.

Both keep the durability order: the revert commit's trees and the commit itself are in
a sealed pack before HEAD's branch points at it; the workspace is written like a checkout
(temporary files renamed over their targets), the stage and HEAD recorded last.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dvault.commitobjects import Commit
from dvault.errors import UncommittedChanges, UsageError
from dvault.hashing import ObjectId
from dvault.identity import author
from dvault.ops.commits import lineage_meta, write_lock
from dvault.ops.tracking import update_gitignore
from dvault.repository import Repository
from dvault.treeobjects import TreeEntry
from dvault.trees import Change, diff_trees, flatten, lookup
from dvault.workspace import checkout as co
from dvault.workspace.checkout import CheckoutReport
from dvault.workspace.limits import check_room
from dvault.workspace.mergestate import refuse_if_merging
from dvault.workspace.safety import adopted_roots, check_changes
from dvault.workspace.scan import in_scopes
from dvault.workspace.staging import write_stage_trees
from dvault.workspace.status import compute_status

SHOWN = 50
"""At most this many paths are named in one error line; the rest are counted."""


class RevertConflict(UsageError):
    """HEAD changed a path since the commit being reverted changed it (exit 2)."""


@dataclass
class RevertReport:
    commit: ObjectId
    reverted: ObjectId
    changes: list[Change]
    """The paths the revert commit changes, from HEAD's version to the restored one."""
    checkout: CheckoutReport


@dataclass
class ResetReport:
    branch: str | None
    old: ObjectId | None
    new: ObjectId
    hard: bool
    discarded: list[bytes] = field(default_factory=list)
    """Paths whose uncommitted changes (staged, modified, deleted) ``--hard`` threw away."""
    checkout: CheckoutReport | None = None


def _listing(paths: list[bytes]) -> str:
    shown = ", ".join(os.fsdecode(p) for p in paths[:SHOWN])
    more = f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
    return shown + more


def revert(repo: Repository, rev: str, message: str | None = None) -> RevertReport:
    """A new commit on the current branch (or detached HEAD) whose tree is HEAD's with
    ``rev``'s changes against its first parent undone; the workspace follows."""
    if message is not None and not message.strip():
        raise UsageError("empty commit message; leave out -m for the default")
    with repo.locked():
        refuse_if_merging(repo, "a revert")
        _, head = repo.refs.head()
        if head is None:
            raise UsageError("nothing to revert on: HEAD has no commits yet")
        target_id = repo.resolve(rev)
        target = repo.read_commit(target_id)
        parent_tree = repo.read_commit(target.parents[0]).tree if target.parents else None
        head_commit = repo.read_commit(head)
        undo, conflicts = _undo_edits(repo, parent_tree, target.tree, head_commit.tree)
        if conflicts:
            raise RevertConflict(
                f"cannot revert {target_id.hex()[:12]}: {len(conflicts)} path(s) changed "
                f"since it: {_listing(conflicts)} (nothing written)"
            )
        if not undo:
            raise UsageError(
                f"nothing to revert: HEAD already lacks {target_id.hex()[:12]}'s changes"
            )
        # every refusal before anything is written (HEAD's tree stands in for the new one
        # in the case-fold check; move_to checks again with the real tree)
        _preflight(repo, undo, head_commit.tree, head_commit.roots, force=False)
        first_line = target.message.splitlines()[0] if target.message else ""
        text = message or f'Revert "{first_line}"\n\nThis reverts commit {target_id.hex()}.'
        edits: dict[bytes, TreeEntry | None] = {c.path: c.new for c in undo}
        with repo.store.writer() as writer:
            head_tree = head_commit.tree

            def whole() -> Iterator[tuple[bytes, TreeEntry]]:  # only if HEAD's tree is unreadable
                leaves = flatten(repo.store, head_tree)
                for path, entry in edits.items():
                    if entry is None:
                        leaves.pop(path, None)
                    else:
                        leaves[path] = entry
                return iter(sorted(leaves.items()))

            tree = write_stage_trees(writer, whole, head_tree, edits)
            meta = lineage_meta(repo, writer, [], [])
            meta["reverts"] = target_id.hex()
            new = Commit(
                tree=tree,
                parents=(head,),
                author=author(repo.config, repo.root),
                time_ns=time.time_ns(),
                message=text,
                roots=head_commit.roots,
                meta=meta,
            )
            oid = writer.put(new)
        # the pack holding the trees and the commit is sealed: now the branch may move
        report = move_to(
            repo,
            oid,
            head_tree,
            force=False,
            move=lambda: repo.refs.update_head_target(oid, f"revert: {text.splitlines()[0]}"),
        )
    update_gitignore(repo, list(repo.roots()))
    return RevertReport(oid, target_id, undo, report)


def _undo_edits(
    repo: Repository, parent: ObjectId | None, target: ObjectId, head: ObjectId
) -> tuple[list[Change], list[bytes]]:
    """The changes (HEAD's entry -> the parent's) that undo ``parent -> target`` on
    ``head``, and the paths where HEAD no longer holds the target's version."""
    undo: list[Change] = []
    conflicts: list[bytes] = []
    for change in diff_trees(repo.store, parent, target):
        now = lookup(repo.store, head, change.path)
        if _same(now, change.old):
            continue  # already as before the commit: nothing to undo here
        if not _same(now, change.new):
            conflicts.append(change.path)
            continue
        old = change.old
        undo.append(Change(change.path, now, old))
    return undo, conflicts


def _same(a: TreeEntry | None, b: TreeEntry | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.mode == b.mode and a.id == b.id


def reset(
    repo: Repository, rev: str, hard: bool = False, accept_roots: bool = False
) -> ResetReport:
    """Move the current branch (or detached HEAD) to ``rev``; with ``hard`` also make
    the stage and the workspace match it, discarding uncommitted changes."""
    with repo.locked():
        refuse_if_merging(repo, "a reset")
        target_id = repo.resolve(rev)
        branch, old = repo.refs.head()
        message = f"reset: moving to {rev}"
        if not hard:
            repo.refs.update_head_target(target_id, message)
            write_lock(repo, target_id)
            return ResetReport(branch, old, target_id, hard)
        status = compute_status(repo)
        discarded = sorted(
            {c.path for c in status.staged} | set(status.modified) | set(status.deleted)
        )
        report = move_to(
            repo,
            target_id,
            repo.state.stage_tree(),
            force=True,
            move=lambda: repo.refs.update_head_target(target_id, message),
            accept_roots=accept_roots,
        )
    update_gitignore(repo, list(repo.roots()))
    return ResetReport(branch, old, target_id, hard, discarded, report)


def move_to(
    repo: Repository,
    target_id: ObjectId,
    base: ObjectId | None,
    force: bool,
    move: Callable[[], None],
    accept_roots: bool = False,
) -> CheckoutReport:
    """Make the stage and workspace go from ``base`` to ``target_id``'s tree (lock
    held), then ``move`` HEAD and rewrite the git-side pin; ``force`` (reset --hard)
    also puts back every file that differs on disk and discards what was staged.

    The same steps as a checkout (ops/switch): plan, refuse what is unsafe and, unless
    ``force``, what would lose uncommitted work, check the room, write, record, move."""
    target = repo.read_commit(target_id)
    roots_after = adopted_roots(
        repo, target, repo.state.accepted_roots(), accept_roots, fresh=False
    )
    changes = co.plan(repo, target.tree, None, force, base)
    materialised = _preflight(repo, changes, target.tree, target.roots, force)
    written = [c.new for c in materialised if c.new is not None]
    total = sum(e.size for e in written if not e.is_dir)
    with repo.progress("checkout", total) as tick:
        report = co.apply(repo, materialised, tick)
    clean_stage = force or repo.state.stage_tree() == base
    co.record(repo, changes, target.tree if clean_stage else None)
    repo.state.set_roots(roots_after)
    move()
    write_lock(repo, target_id)
    return report


def _preflight(
    repo: Repository,
    changes: list[Change],
    tree: ObjectId,
    roots: dict[str, str],
    force: bool,
) -> list[Change]:
    """Refuse unsafe paths, uncommitted work in the way (unless ``force``) and what
    exceeds the room or the caps; returns the changes a sparse workspace writes."""
    sparse = repo.state.sparse()
    materialised = [c for c in changes if in_scopes(c.path, sparse)]
    check_changes(repo, materialised, tree, roots)
    if not force:
        dirty = co.find_conflicts(repo, materialised, False)
        if dirty:
            raise UncommittedChanges(
                f"revert would overwrite uncommitted changes in {len(dirty)} path(s): "
                f"{_listing(dirty)}; save them with `dvault stash push` (they stay in "
                "`dvault stash list`), then run the revert again"
            )
    written = [c.new for c in materialised if c.new is not None]
    total = sum(e.size for e in written if not e.is_dir)
    freed = sum(c.old.size for c in materialised if c.new is None and c.old is not None)
    check_room(repo.config, repo.root, total, len(written), freed)
    return materialised
