"""Switching versions: checkout, a fast-forward, and a fresh clone's first checkout.

All three share one core, :func:`switch_core` (or :func:`_fill` for a workspace known to be
empty): plan the changes, refuse what is unsafe, new roots not accepted, conflicts with
uncommitted work and what exceeds the caps — all before anything is written — then
write, record the stage, move HEAD, and rewrite the ``dvault.lock`` pin.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable

from dvault.errors import UncommittedChanges, UsageError
from dvault.hashing import ObjectId
from dvault.ops.commits import write_lock
from dvault.ops.tracking import update_gitignore
from dvault.refs import HEADS
from dvault.repository import Repository
from dvault.trees import lookup
from dvault.workspace import checkout as co
from dvault.workspace import lostfound
from dvault.workspace.checkout import CheckoutReport
from dvault.workspace.limits import check_room
from dvault.workspace.mergestate import refuse_if_merging
from dvault.workspace.prefill import Prefill
from dvault.workspace.safety import adopted_roots, check_changes
from dvault.workspace.scan import in_scopes


class WouldOverwrite(UncommittedChanges):
    """A switch refused: it would overwrite or remove uncommitted work at ``paths``.
    The message names them and says how to keep them (``dvault stash push``); callers
    that know the exact command to run again say it (:func:`checkout`)."""

    def __init__(self, paths: list[bytes], retry: str | None = None, why: str = "") -> None:
        self.paths = paths
        shown = ", ".join(os.fsdecode(p) for p in paths[:50])
        more = f" and {len(paths) - 50} more" if len(paths) > 50 else ""
        if retry is None:
            then = "save them with `dvault stash push`, then run the command again"
        else:
            then = (
                f"save them with `dvault stash push && {retry}`, or overwrite them "
                f"(a copy is kept in .dvault/lost+found) with `{forced(retry)}`"
            )
        super().__init__(
            f"{why}checkout would overwrite uncommitted changes in {len(paths)} path(s): "
            f"{shown}{more}; {then}"
        )


def forced(command: str) -> str:
    """``dvault checkout ...`` with --force."""
    return command.replace("dvault checkout ", "dvault checkout --force ", 1)


def retry_command(
    repo: Repository, rev: str, rels: list[bytes] | None, overlay: bool = True
) -> str:
    """The checkout command line, quoted for a shell, its paths relative to the current
    directory (as the user typed them)."""
    words = ["dvault", "checkout", *([] if overlay else ["--no-overlay"]), shlex.quote(rev)]
    if rels:
        here = [os.path.relpath(repo.root / os.fsdecode(p)) for p in rels]
        words += ["--", *(shlex.quote(p) for p in here)]
    return " ".join(words)


MoveHead = Callable[[], None]
"""Moves HEAD (and a branch) once the workspace holds the target: the last step."""


def checkout(
    repo: Repository,
    rev: str,
    paths: list[str] | None = None,
    force: bool = False,
    accept_roots: bool = False,
    overlay: bool = True,
) -> CheckoutReport:
    """Make the workspace match ``rev`` (or only ``paths`` of it), never losing work.

    A whole checkout that would make the project track roots it never tracked
    raises ``NewRoots`` (nothing written) unless ``accept_roots``. ``paths`` of ``rev``
    overlay the workspace, as in git: files under them that ``rev`` lacks stay, unless
    not ``overlay`` (then they are removed, and the paths mirror ``rev``)."""
    rels = [repo.relpath(p) for p in paths] if paths else None
    with repo.locked():
        if rels is None:
            refuse_if_merging(repo, "checking out another revision")
        target_id = repo.resolve(rev)
        branch = rev if rev in repo.refs.branches() else None

        def move_head() -> None:
            repo.refs.set_head(branch, target_id, f"checkout: moving to {rev}")

        try:
            report = switch_core(
                repo, target_id, rels, force, move_head, accept_roots=accept_roots, overlay=overlay
            )
        except WouldOverwrite as exc:
            retry = retry_command(repo, rev, rels, overlay)
            raise WouldOverwrite(exc.paths, retry) from None
    update_gitignore(repo, list(repo.roots()))
    return report


def fast_forward(
    repo: Repository, new: ObjectId, message: str, accept_roots: bool = False
) -> CheckoutReport:
    """Advance the current branch to ``new`` (a descendant) and update the workspace
    (new tracked roots need ``accept_roots``, as for :func:`checkout`)."""
    with repo.locked():
        report = switch_core(
            repo,
            new,
            None,
            False,
            lambda: repo.refs.update_head_target(new, message),
            accept_roots=accept_roots,
        )
    update_gitignore(repo, list(repo.roots()))
    return report


def checkout_initial(
    repo: Repository,
    target: ObjectId,
    branch: str | None,
    empty_workspace: bool = False,
    accept_roots: bool = False,
    force: bool = False,
    prefill: Prefill | None = None,
) -> CheckoutReport:
    """First checkout of a fresh clone: everything is new, HEAD goes to ``branch``.

    ``empty_workspace`` (a clone into a directory it just created) skips looking for
    local files in the way: there are none. A project that tracks nothing yet takes
    the roots the target's tree holds (see ``workspace.safety.adopted_roots``). Files in
    the way are refused, naming them, unless ``force`` (``dvault checkout --pin
    --force`` in a fresh git clone). ``prefill``: files of an empty workspace the fetch
    already wrote (:func:`dvault.workspace.checkout.fill_empty`).
    """
    with repo.locked():

        def move_head() -> None:
            if branch is not None:
                if repo.refs.read(HEADS + branch) is None:
                    repo.refs.update(HEADS + branch, target, "clone")
                repo.refs.set_head(branch, target, "clone")
            else:
                repo.refs.set_head(None, target, "clone")

        if empty_workspace:  # a fresh clone: nothing to compare with, stream it
            report = _fill(repo, target, move_head, accept_roots, prefill)
        else:
            report = switch_core(
                repo, target, None, force, move_head, initial=True, accept_roots=accept_roots
            )
    update_gitignore(repo, list(repo.roots()))
    return report


def _fill(
    repo: Repository,
    target_id: ObjectId,
    move_head: MoveHead,
    accept: bool,
    prefill: Prefill | None = None,
) -> CheckoutReport:
    """:func:`checkout_initial` into an empty workspace (lock held), in batches."""
    target = repo.read_commit(target_id)
    roots = adopted_roots(repo, target, {}, accept, fresh=True)
    sparse = repo.state.sparse()
    report = co.fill_empty(repo, target.tree, target.roots, sparse, repo.progress, prefill)
    report.roots_not_tracked = sorted(target.roots.keys() - roots.keys())
    repo.state.set_roots(roots)
    move_head()
    write_lock(repo, target_id)
    return report


def switch_core(
    repo: Repository,
    target_id: ObjectId,
    rels: list[bytes] | None,
    force: bool,
    move_head: MoveHead,
    initial: bool = False,
    accept_roots: bool = False,
    overlay: bool = True,
) -> CheckoutReport:
    """Checkout's core (lock held): plan, refuse what is unsafe, new roots not
    accepted, conflicts and what exceeds the caps, then write, record, move HEAD.

    ``initial`` (a first checkout into a workspace that may hold files) plans from the
    empty tree rather than HEAD's, and repairs nothing. With a sparse workspace (a
    partial clone), paths outside its scopes are recorded in the stage but not written.
    """
    target = repo.read_commit(target_id)
    if repo.store.type_of(target.tree) is None:
        # contents released by a trusted forget and not here: one line, nothing written
        from dvault.remote import released  # deferred: only for a tree that is not here

        released.refuse(repo.dir, target_id, False)
    _, head = repo.refs.head()
    head_tree = repo.read_commit(head).tree if head else None
    roots_after = None
    if rels is None:  # a whole checkout: the project tracks the target's roots after it
        known = repo.state.accepted_roots()
        fresh = head is None and not known
        roots_after = adopted_roots(repo, target, known, accept_roots, fresh)
    base = None if initial else head_tree
    # a forced whole checkout writes what the switch must write, as a plain one does:
    # unrelated edits are carried, never "repaired" away
    changes = co.plan(repo, target.tree, rels, False, base, overlay)
    sparse = repo.state.sparse()
    materialised = [c for c in changes if in_scopes(c.path, sparse)]
    check_changes(repo, materialised, target.tree, target.roots)
    conflicts = co.find_conflicts(repo, materialised, rels is not None)
    if conflicts and not force:
        raise WouldOverwrite(conflicts)
    written = [c.new for c in materialised if c.new is not None]
    total = sum(e.size for e in written if not e.is_dir)
    freed = sum(c.old.size for c in materialised if c.new is None and c.old is not None)
    check_room(repo.config, repo.root, total, len(written), freed)
    # forced: what the switch overwrites is kept first (durably) in .dvault/lost+found
    kept = lostfound.keep(repo, conflicts) if conflicts else None
    with repo.progress("checkout", total) as tick:
        report = co.apply(repo, materialised, tick)
    report.kept = kept
    if roots_after is not None:
        report.roots_not_tracked = sorted(target.roots.keys() - roots_after.keys())
        clean_stage = repo.state.stage_tree() == base
        co.record(repo, changes, target.tree if clean_stage else None)
        repo.state.set_roots(roots_after)
        move_head()
        write_lock(repo, target_id)
    else:  # a path whose content was erased is left as it was, in the stage too
        co.record(repo, [c for c in changes if c.path not in report.erased_paths], None)
    return report


def restore(repo: Repository, paths: list[str]) -> CheckoutReport:
    """``checkout -- PATH...``: put back what the stage holds under ``paths`` (HEAD's
    content when nothing was staged), as ``git checkout -- PATH`` restores from the index.

    It discards uncommitted edits of those paths in the workspace (that is what it is
    for), keeping a copy of each in ``.dvault/lost+found``; the stage, HEAD and files the
    stage does not hold are left alone."""
    rels = [repo.relpath(p) for p in paths]
    with repo.locked():
        tree = repo.state.stage_tree()
        if tree is None:
            _, head = repo.refs.head()
            if head is None:
                raise UsageError("nothing staged or committed to restore paths from")
            tree = repo.read_commit(head).tree
        for rel in rels:
            if lookup(repo.store, tree, rel) is None:
                raise UsageError(f"path {os.fsdecode(rel)!r} is neither staged nor committed")
        changes = co.plan(repo, tree, rels)
        materialised = [c for c in changes if in_scopes(c.path, repo.state.sparse())]
        check_changes(repo, materialised, tree, repo.state.roots())
        written = [c.new for c in materialised if c.new is not None]
        total = sum(e.size for e in written if not e.is_dir)
        check_room(repo.config, repo.root, total, len(written))
        # the edits it discards are kept first (durably) in .dvault/lost+found, as --force's
        conflicts = co.find_conflicts(repo, materialised, True)
        kept = lostfound.keep(repo, conflicts) if conflicts else None
        with repo.progress("checkout", total) as tick:
            report = co.apply(repo, materialised, tick)
        report.kept = kept
        co.record(repo, changes, None)
    return report
