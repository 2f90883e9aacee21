"""The library API: one :class:`Repo` per project, with the operations of the command line.

A project is a directory holding ``.dvault``. Inside a git work tree, ``init`` puts it
at the git root. Every command that changes the repository takes the writer lock, so
two ``dvault commit`` processes are serialised, never interleaved.

:class:`Repo` is the plumbing handle (:class:`~dvault.repository.Repository`) with one
method per operation; each body is one call into ``dvault/ops/`` (or a subsystem), where
the operation lives as a function over the handle. Nothing below this floor imports it.
The methods for remotes (``add_remote`` ... ``set_default_remote``, ``push``, ``fetch``,
``pull``, ``clone``) are in ``dvault/reporemotes.py``, which ``Repo`` inherits them from.

Each operation's module is imported when its method is first called (``# deferred:
start-up``): a process loads the handle and the one operation it runs — ``status`` the
status scan, ``push`` the push — not the code of commit, checkout, log, remotes,
maintenance and review (measured: importing them all at the top added ~20 ms of CPU to ``dvault
status``, docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvault.hashing import ObjectId
from dvault.names import KINDS as KINDS  # re-exported: its home is dvault.names
from dvault.reporemotes import RemoteMethods
from dvault.repository import DEFAULT_BRANCH as DEFAULT_BRANCH
from dvault.repository import DVAULT_DIR as DVAULT_DIR

if TYPE_CHECKING:
    from dvault.commitobjects import Tag
    from dvault.datasheet import Datasheet
    from dvault.environment import Recorded
    from dvault.lineage import Graph
    from dvault.maintenance.gc import GcReport
    from dvault.maintenance.repair import RepairReport
    from dvault.ops.conflicts import ContinueReport
    from dvault.ops.log import LogEntry
    from dvault.ops.merge import MergeReport
    from dvault.ops.redact import RedactReport
    from dvault.ops.stash import PopReport, StashEntry
    from dvault.ops.undo import ResetReport, RevertReport
    from dvault.pins import PinState
    from dvault.reader import Snapshot
    from dvault.review import Review
    from dvault.signing import SignatureCheck, Signers
    from dvault.stats import Stats
    from dvault.trees import Change
    from dvault.verify import VerifyReport
    from dvault.workspace.checkout import CheckoutReport
    from dvault.workspace.staging import StageReport
    from dvault.workspace.status import Status


class Repo(RemoteMethods):
    """An open dvault project: the operations of the command line as methods.

    Get one with :meth:`open` (an existing project, searching parent directories),
    :meth:`init` (a new one) or :meth:`clone` (from a remote). Use it as a context manager,
    or call :meth:`close`, to release the object index. Methods raise
    :class:`~dvault.DvaultError` subclasses (``dvault.UnknownRevision``, ...); commands that
    change the repository take the writer lock, so they are safe next to a running CLI.
    Returned reports are the dataclasses the CLI prints; their fields are documented in
    docs/api.md.
    """

    # -- tracking and staging -------------------------------------------------------------

    def add(
        self, paths: list[str | Path], kind: str | None = None, replace_roots: bool = False
    ) -> StageReport:
        """Track ``paths`` (new tracked roots unless already under one) and stage them;
        ``replace_roots``: also when that merges tracked roots of another kind into one."""
        from dvault.ops import tracking  # deferred: start-up

        return tracking.add(self, paths, kind, replace_roots)

    def rm(self, paths: list[str | Path], cached: bool = False) -> list[str]:
        """Stop tracking ``paths``; without ``cached`` also delete them from the workspace."""
        from dvault.ops import tracking  # deferred: start-up

        return tracking.rm(self, paths, cached)

    def status(self) -> Status:
        """Staged, modified, deleted and untracked paths (a ``workspace.status.Status``)."""
        from dvault.workspace.status import compute_status  # deferred: start-up

        return compute_status(self)  # = ops.tracking.status, without add's and rm's imports

    # -- history --------------------------------------------------------------------------

    def commit(
        self,
        message: str,
        all: bool = False,
        meta: dict[str, Any] | None = None,
        allow_empty: bool = False,
        inputs: list[str] | None = None,
        sources: list[str | Path] | None = None,
        sign: bool = False,
        key: str | None = None,
        notify: Callable[[str], None] | None = None,
        env: bool = False,
    ) -> ObjectId:
        """Record the stage as a new commit on the current branch; returns its id. In a
        git work tree the commit lands on the dvault branch named like the checked-out git
        branch (created at HEAD's commit when new); ``notify`` hears one line when HEAD
        moved to it (docs/git.md, "Data branches follow git branches").

        Lineage is recorded automatically (git commit and dirtiness, command line, user,
        host); ``inputs`` name data this version was derived from (``REV`` or
        ``PATH@REV``), ``sources`` are generator or pipeline files whose content is stored
        and hashed with the commit. ``sign`` signs it with the user's key ``key``
        (docs/format.md, "Signatures"). ``env`` also records the environment: the Python
        on PATH, its packages, platform, hardware, lock files (docs/lineage.md).
        """
        from dvault.ops import commits  # deferred: start-up

        return commits.commit(
            self,
            message,
            all,
            meta,
            allow_empty,
            inputs,
            sources,
            sign,
            key,
            notify,
            environment=commits.capture_environment(self) if env else None,
        )

    def log(
        self, rev: str | None = None, paths: list[str] | None = None, all_refs: bool = False
    ) -> Iterator[LogEntry]:
        """Commits reachable from ``rev`` (default HEAD), newest first; ``all_refs``: from
        every branch, tag and remote-tracking ref too (``log --all``)."""
        from dvault.ops import log  # deferred: start-up

        return log.log(self, rev, paths, all_refs)

    def remote_tracking(self) -> dict[str, ObjectId]:
        """Where each remote's branches were when last fetched or pushed:
        ``REMOTE/BRANCH`` -> commit id (``branch -r``)."""
        from dvault.ops import log  # deferred: start-up

        return log.remote_tracking(self)

    def decorations(self) -> dict[ObjectId, list[str]]:
        """Names pointing at each commit, for log output (HEAD, branches, tags)."""
        from dvault.ops import log  # deferred: start-up

        return log.decorations(self)

    def diff(
        self, old: str | None = None, new: str | None = None, paths: list[str] | None = None
    ) -> list[Change]:
        """Changes between two revisions, or from a revision (default HEAD) to the workspace."""
        from dvault.ops import log  # deferred: start-up

        return log.diff(self, old, new, paths)

    # -- checkout -------------------------------------------------------------------------

    def checkout(
        self,
        rev: str,
        paths: list[str] | None = None,
        force: bool = False,
        accept_roots: bool = False,
        overlay: bool = True,
    ) -> CheckoutReport:
        """Make the workspace match ``rev`` (or only ``paths`` of it), never losing work.

        A whole checkout that would make the project track roots it never tracked
        raises ``NewRoots`` (nothing written) unless ``accept_roots``. ``paths`` overlay
        the workspace as in git (files ``rev`` lacks stay) unless not ``overlay``."""
        from dvault.ops import switch  # deferred: start-up

        return switch.checkout(self, rev, paths, force, accept_roots, overlay)

    def restore(self, paths: list[str]) -> CheckoutReport:
        """Put back the staged (else committed) content of ``paths``, discarding their
        uncommitted edits in the workspace, as ``git checkout -- PATH`` does."""
        from dvault.ops import switch  # deferred: start-up

        return switch.restore(self, paths)

    def checkout_pin(self, force: bool = False, accept_roots: bool = False) -> str:
        """Check out the commit ``dvault.lock`` pins (fetching it if needed), as the
        post-checkout hook does; returns a one-line summary."""
        from dvault.ops import hooks  # deferred: start-up

        return hooks.checkout_pin(self, force, accept_roots)

    def pin_state(self) -> PinState | None:
        """The workspace against ``dvault.lock`` (None outside git or without the file)."""
        from dvault.workspace.pinstate import pin_state  # deferred: start-up

        return pin_state(self)

    def fast_forward(
        self, new: ObjectId, message: str, accept_roots: bool = False
    ) -> CheckoutReport:
        """Advance the current branch to ``new`` (a descendant) and update the workspace
        (new tracked roots need ``accept_roots``, as for :meth:`checkout`)."""
        from dvault.ops import switch  # deferred: start-up

        return switch.fast_forward(self, new, message, accept_roots)

    # -- stash ----------------------------------------------------------------------------

    def stash_push(
        self, message: str | None = None, paths: list[str] | None = None
    ) -> StashEntry | None:
        """Save uncommitted changes (under ``paths``, default all) and reset them to HEAD;
        None when there is nothing to save."""
        from dvault.ops import stash  # deferred: start-up

        return stash.push(self, message, [self.relpath(p) for p in paths] if paths else None)

    def stash_pop(self, which: str | int = 0, drop: bool = True) -> PopReport:
        """Re-apply a stash entry on top of HEAD (``drop=False``: keep it, as apply)."""
        from dvault.ops import stash  # deferred: start-up

        return stash.apply(self, which, drop)

    def stash_list(self) -> list[StashEntry]:
        """The stash entries, newest (``stash@{0}``) first."""
        from dvault.ops import stash  # deferred: start-up

        return stash.entries(self)

    def stash_drop(self, which: str | int) -> StashEntry:
        """Forget a stash entry."""
        from dvault.ops import stash  # deferred: start-up

        return stash.drop(self, which)

    def checkout_initial(
        self,
        target: ObjectId,
        branch: str | None,
        empty_workspace: bool = False,
        accept_roots: bool = False,
    ) -> CheckoutReport:
        """First checkout of a fresh clone: everything is new, HEAD goes to ``branch``.

        ``empty_workspace`` (a clone into a directory it just created) skips looking for
        local files in the way: there are none. A project that tracks nothing yet takes
        the roots the target's tree holds (see ``workspace.safety.adopted_roots``).
        """
        from dvault.ops import switch  # deferred: start-up

        return switch.checkout_initial(self, target, branch, empty_workspace, accept_roots)

    # -- branches and tags ----------------------------------------------------------------

    def branch(self, name: str, rev: str | None = None) -> ObjectId:
        """Create branch ``name`` at ``rev`` (default HEAD); returns the commit id."""
        from dvault.ops import commits  # deferred: start-up

        return commits.branch(self, name, rev)

    def delete_branch(self, name: str) -> ObjectId:
        """Delete a branch (not the current one); returns the commit it pointed at."""
        from dvault.ops import commits  # deferred: start-up

        return commits.delete_branch(self, name)

    def tag(
        self,
        name: str,
        rev: str | None = None,
        message: str = "",
        sign: bool = False,
        key: str | None = None,
    ) -> ObjectId:
        """Create an annotated, immutable tag (signed with ``sign``); re-tagging an
        existing name fails."""
        from dvault.ops import commits  # deferred: start-up

        return commits.tag(self, name, rev, message, sign, key)

    def signature(self, oid: bytes, signers: Signers | None = None) -> SignatureCheck:
        """The signature status (good, bad, unknown, unsigned) of a commit or tag, against
        the trusted signers (``signing.trusted_signers``: never the work tree)."""
        from dvault.ops import commits  # deferred: start-up

        return commits.signature(self, oid, signers)

    def environment(self, oid: bytes) -> Recorded:
        """The environment commit ``oid`` records (``dvault run``, ``commit --env``),
        read and checked as hostile: its ``status`` is captured, not recorded or refused."""
        from dvault.ops import commits  # deferred: start-up

        return commits.environment(self, oid)

    def read_tag(self, oid: bytes) -> Tag:
        """The annotated tag object ``oid``."""
        from dvault.ops import commits  # deferred: start-up

        return commits.read_tag(self, oid)

    # -- verification, maintenance, review, lineage ---------------------------------------

    def verify(
        self,
        revs: list[str] | None = None,
        remote: str | None = None,
        read_data: bool = False,
        sample: int | None = None,
    ) -> VerifyReport:
        """Check that every object the refs (or ``revs``) need is present, and intact with
        ``read_data``; or check a remote instead. The report's ``ok`` says whether it is."""
        from dvault.remote.session import pick_remote  # deferred: start-up
        from dvault.verify import verify_local, verify_remote  # deferred: start-up

        if remote is None:
            return verify_local(self, revs, read_data, sample)
        return verify_remote(self, pick_remote(self, remote), read_data)

    def gc(self, dry_run: bool = False, keep_within: str = "14d") -> GcReport:
        """Remove objects nothing references (never on remotes); see ``dvault gc``."""
        from dvault.maintenance import gc  # deferred: start-up

        return gc.collect(self, dry_run, gc.parse_duration(keep_within))

    def redact(
        self,
        paths: list[str],
        reason: str,
        revs: list[str] | None = None,
        dry_run: bool = False,
        remote: str | None = None,
    ) -> RedactReport:
        """Erase the contents of ``paths`` (project-relative) from every kept commit here,
        keeping commit ids, and with ``remote`` record a signed redact entry in its ref
        log; see ``dvault redact``."""
        from dvault.ops import redact  # deferred: start-up

        return redact.redact(self, paths, reason, revs, dry_run, remote)

    def repair(self) -> RepairReport:
        """Rebuild the index, salvage damaged packs, re-fetch from remotes, restore refs."""
        from dvault.maintenance import repair  # deferred: start-up

        return repair.repair(self)

    def review(
        self, git_rev: str = "HEAD", read_data: bool = False, require: str | None = None
    ) -> Review:
        """Reproducibility review of a git revision (pinned data, lineage, signatures,
        whether each remote can restore it) with the verdict's named checks (``checks``,
        dvault/verdict.py). ``require`` is ``--require``'s ``CHECK,...`` or ``all``
        (a :class:`UsageError` for an unknown name); ``exit_ok`` is the command's exit."""
        from dvault import review, verdict  # deferred: start-up

        required = verdict.parse_required(require) if require is not None else []
        result = review.review(self, git_rev, read_data)
        result.required = required
        return result

    def datasheets(self, root: str | Path | None = None, rev: str | None = None) -> list[Datasheet]:
        """The datasheet of tracked root ``root`` (every root when None), as committed in
        ``rev`` or, when None, in the work tree."""
        from dvault.ops import datasheets  # deferred: start-up

        return datasheets.datasheets(self, root, rev)

    def init_datasheet(self, root: str | Path) -> Path:
        """Write a template ``datasheet.toml`` (every field commented) into ``root``."""
        from dvault.ops import datasheets  # deferred: start-up

        return datasheets.init_datasheet(self, root)

    def stats(self, rev: str = "HEAD", since: str | None = None, depth: int = 1) -> Stats:
        """Files and bytes per root and per folder ``depth`` levels down, changes from
        ``since``, and label histograms of small label files."""
        from dvault.ops import datasheets  # deferred: start-up

        return datasheets.stats(self, rev, since, depth)

    def lineage(self, rev: str = "HEAD") -> Graph:
        """Where a version came from: the graph of parents, inputs and sources."""
        from dvault import lineage  # deferred: start-up

        return lineage.build(self, rev)

    def manifest(self, dest: str | Path, rev: str = "HEAD") -> int:
        """Write every file of version ``rev`` (root, path, size, content id) to ``dest``
        (``.csv`` or ``.json``, outside the data roots), as ``review --manifest`` does;
        returns the number of files listed."""
        from dvault import manifest  # deferred: start-up

        full, fmt = manifest.check_destination(self, Path(dest))
        return manifest.write(self, self.resolve(rev), full, fmt)

    # -- reading versions without a checkout ----------------------------------------------

    def snapshot(self, rev: str = "HEAD", remote: str | None = None) -> Snapshot:
        """Version ``rev`` as a :class:`dvault.Snapshot` (``open``, ``ls``, ``walk``,
        ``stat``), read from the local store, or with ``remote`` straight from that remote.
        The snapshot does not close this repository."""
        from dvault.reader import LocalSource, Snapshot, open_source  # deferred: start-up

        source = LocalSource(self) if remote is None else open_source(self, remote)
        try:
            return Snapshot(source, rev, owns_source=True)
        except BaseException:
            source.close()
            raise

    # -- undoing history ------------------------------------------------------------------

    def revert(self, rev: str, message: str | None = None) -> RevertReport:
        """A new commit undoing ``rev``'s changes (against its first parent) on HEAD;
        a path HEAD changed since is a conflict (``RevertConflict``, nothing written)."""
        from dvault.ops import undo  # deferred: start-up

        return undo.revert(self, rev, message)

    def reset(self, rev: str, hard: bool = False, accept_roots: bool = False) -> ResetReport:
        """Move the current branch to ``rev`` (its reflog keeps the old tip); ``hard``
        also makes the stage and workspace match ``rev``, discarding uncommitted changes."""
        from dvault.ops import undo  # deferred: start-up

        return undo.reset(self, rev, hard, accept_roots)

    # -- merging ---------------------------------------------------------------------------

    def merge(
        self,
        rev: str,
        no_ff: bool = False,
        message: str | None = None,
        accept_roots: bool = False,
        sign: bool = False,
        key: str | None = None,
    ) -> MergeReport:
        """Merge ``rev`` into the current branch: a fast-forward (unless ``no_ff``) or a
        merge commit with parents HEAD and ``rev`` (signed with ``sign``, using ``key``).
        Conflicts stop the merge (``MergeStopped``): the workspace shows them, and
        :meth:`resolve_conflicts`, :meth:`merge_continue` or :meth:`merge_abort` go on."""
        from dvault.ops import merge  # deferred: start-up

        return merge.merge(self, rev, no_ff, message, accept_roots, sign, key)

    def merge_continue(self) -> ContinueReport:
        """Commit a merge stopped on conflicts once each path is resolved (parents HEAD,
        then the merged revision); refused while a path is unmerged."""
        from dvault.ops import conflicts  # deferred: start-up

        return conflicts.finish(self)

    def merge_abort(self) -> ObjectId:
        """Undo a merge stopped on conflicts: the stage and workspace as HEAD has them."""
        from dvault.ops import conflicts  # deferred: start-up

        return conflicts.abort(self)

    def resolve_conflicts(self, paths: list[str], side: str) -> list[bytes]:
        """Take ``side`` (``ours`` or ``theirs``) for conflicting ``paths`` of the merge
        in progress, in the workspace and the stage (``checkout --ours|--theirs``)."""
        from dvault.ops import conflicts  # deferred: start-up

        return conflicts.resolve(self, paths, side)
