"""The library API: one :class:`Repo` per project, with the operations of the command line.

A project is a directory holding ``.dvault``. Inside a git work tree, ``init`` puts it
at the git root. Every command that changes the repository takes the writer lock, so
two ``dvault commit`` processes are serialised, never interleaved.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvault import config as cfg
from dvault.errors import (
    DvaultError,
    NothingToCommit,
    UncommittedChanges,
    UsageError,
)
from dvault.fsutil import write_durable
from dvault.gitlink import find_git_root, ignore_pattern
from dvault.hashing import ObjectId, ObjectType
from dvault.names import KINDS as KINDS  # re-exported: its home is dvault.names
from dvault.names import root_problem
from dvault.objects import Commit, Tag
from dvault.repository import DEFAULT_BRANCH as DEFAULT_BRANCH
from dvault.repository import DVAULT_DIR as DVAULT_DIR
from dvault.repository import Repository
from dvault.workspace.scan import in_scopes

if TYPE_CHECKING:
    from dvault.reader import Snapshot

_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".h5", ".onnx", ".pkl")


def guess_kind(path: str, is_file: bool) -> str:
    """A sensible default kind for a new tracked root; ``--kind`` overrides it."""
    name = path.lower()
    if (is_file and name.endswith(_CHECKPOINT_SUFFIXES)) or "checkpoint" in name or "ckpt" in name:
        return "checkpoint"
    if "label" in name or "annotation" in name:
        return "labels"
    return "dataset"


def _same_content(a: Any, b: Any) -> bool:
    return a is not None and not isinstance(a, str) and a.mode == b.mode and a.id == b.id


@dataclass(frozen=True)
class LogEntry:
    id: ObjectId
    commit: Commit
    refs: tuple[str, ...] = ()


class Repo(Repository):
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

    def roots(self) -> dict[str, str]:
        """Tracked roots (project-relative paths) and their kinds."""
        result: dict[str, str] = self.state.roots()
        return result

    def add(self, paths: list[str | Path], kind: str | None = None) -> Any:
        """Track ``paths`` (new tracked roots unless already under one) and stage them."""
        if kind is not None and kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
        rels = [self.relpath(p) for p in paths]
        with self.locked():
            roots = self.roots()
            for rel, given in zip(rels, paths, strict=True):
                text = os.fsdecode(rel)
                if not rel:
                    raise UsageError("cannot track the whole project; add its data folders")
                covering = [r for r in roots if text == r or text.startswith(r + "/")]
                if covering:
                    if kind is not None and text in roots:
                        roots[text] = kind
                    continue
                if not os.path.lexists(self.root / text):
                    raise UsageError(f"path {given} does not exist")
                new_kind = kind or guess_kind(text, (self.root / text).is_file())
                why = root_problem(text, new_kind)  # what a checkout would refuse as a root
                if why is not None:
                    raise UsageError(f"cannot track {text!r}: {why}")
                for inner in [r for r in roots if r.startswith(text + "/")]:
                    del roots[inner]  # the new root subsumes roots inside it
                roots[text] = new_kind
            report = self._stage(rels, "add", roots)
            self.state.set_roots(roots)
            self._sign_directories(report)
        self._update_gitignore(list(roots))
        return report

    def _stage(self, scopes: list[bytes], desc: str, roots: dict[str, str] | None = None) -> Any:
        from dvault.workspace.staging import stage_paths

        return stage_paths(self, scopes, desc, roots)

    def _sign_directories(self, report: Any) -> None:
        """Compare the workspace with the stage once more, for its side effect: the scan
        records the signature of every directory it finds clean. A large add forgets them
        all (state.py), and paying for the full comparison here, in a command that took
        seconds anyway, keeps the next ``status`` from paying it."""
        from dvault.store.state import SIGNATURE_DROP_ALL
        from dvault.workspace.scan import load_ignore, scan_workspace
        from dvault.workspace.status import WORKERS

        if report.added + report.modified + report.deleted <= SIGNATURE_DROP_ALL:
            return  # the few signatures forgotten are cheap to re-record in status
        roots = [os.fsencode(r) for r in self.state.roots()]
        scan_workspace(self.root, roots, load_ignore(self.root), self.state, WORKERS)

    def rm(self, paths: list[str | Path], cached: bool = False) -> list[str]:
        """Stop tracking ``paths``; without ``cached`` also delete them from the workspace."""
        from dvault.workspace.scan import under

        rels = [self.relpath(p) for p in paths]
        with self.locked():
            stage = self.state.stage()
            roots = self.roots()
            removed = []
            for rel, given in zip(rels, paths, strict=True):
                doomed = [p for p in stage if under(p, rel)]
                if not doomed and os.fsdecode(rel) not in roots:
                    raise UsageError(f"path {given} is not tracked")
                removed.extend(doomed)
                for r in [r for r in roots if under(os.fsencode(r), rel)]:
                    del roots[r]
            if not cached:
                self._refuse_unsaved(removed, stage)
                self._refuse_through_symlinks(removed)
            for p in removed:
                del stage[p]
            from dvault.workspace.staging import write_stage_trees

            with self.store.writer() as writer:
                base = self.state.stage_tree()
                tree = write_stage_trees(
                    writer, lambda: sorted(stage.items()), base, dict.fromkeys(removed)
                )
            self.state.update_stage(delete=removed, tree=tree)
            self.state.set_roots(roots)
            if not cached:
                from dvault.workspace.safety import SymlinkGuard

                guard = SymlinkGuard(os.fsencode(self.root))
                for p in removed:
                    guard.remove(p)
        return [os.fsdecode(p) for p in removed]

    def _refuse_through_symlinks(self, paths: list[bytes]) -> None:
        """``rm`` never deletes below a symlink (``data/cache -> /big/disk``): refused
        before the stage changes."""
        from dvault.workspace.safety import SymlinkGuard, UnsafePath

        guard = SymlinkGuard(os.fsencode(self.root))
        for path in paths:
            link = guard.leading_symlink(path)
            if link is not None:
                raise UnsafePath(
                    f"refusing to delete {os.fsdecode(path)!r}: {os.fsdecode(link)!r} is a "
                    "symlink, and dvault never deletes through one (use rm --cached)"
                )

    def _refuse_unsaved(self, paths: list[bytes], stage: dict[bytes, Any]) -> None:
        """``rm`` must not delete work that exists nowhere else (modified, unstaged files)."""
        from dvault.workspace.checkout import current_content

        unsaved = []
        for path in paths:
            now = current_content(self, path, stage[path])
            if now is not None and not _same_content(now, stage[path]):
                unsaved.append(path)
        if unsaved:
            shown = ", ".join(os.fsdecode(p) for p in unsaved[:10])
            raise UncommittedChanges(
                f"{len(unsaved)} path(s) have changes not staged ({shown}); "
                "dvault add them first, or use rm --cached"
            )

    def status(self) -> Any:
        """Staged, modified, deleted and untracked paths (a ``workspace.status.Status``)."""
        from dvault.workspace.status import compute_status

        return compute_status(self)

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
    ) -> ObjectId:
        """Record the stage as a new commit on the current branch; returns its id.

        Lineage is recorded automatically (git commit and dirtiness, command line, user,
        host); ``inputs`` name data this version was derived from (``REV`` or
        ``PATH@REV``), ``sources`` are generator or pipeline files whose content is stored
        and hashed with the commit. ``sign`` signs it with the user's key ``key``
        (docs/format.md, "Signatures").
        """
        from dvault.identity import author

        if not message.strip():
            raise UsageError("empty commit message; use -m MESSAGE")
        signer = self._signer(sign, key)
        with self.locked():
            roots = self.roots()
            if all:
                if not roots:
                    raise NothingToCommit("nothing tracked yet; use dvault add PATH")
                self._sign_directories(self._stage([os.fsencode(r) for r in roots], "commit"))
            tree = self.state.stage_tree()
            _, head = self.refs.head()
            parent = self.read_commit(head) if head else None
            if tree is None or (
                not allow_empty
                and parent is not None
                and parent.tree == tree
                and parent.roots == roots
            ):
                raise NothingToCommit("nothing to commit (use dvault add, or commit -a)")
            with self.store.writer() as writer:
                lineage = self._lineage(writer, inputs or [], sources or [])
                lineage.update(meta or {})
                commit = Commit(
                    tree=tree,
                    parents=(head,) if head else (),
                    author=author(self.config),
                    time_ns=time.time_ns(),
                    message=message,
                    roots=roots,
                    meta=lineage,
                )
                if signer is not None:
                    commit = signer(commit)
                oid = writer.put(commit)
            # pack sealed and indexed above; only now may a ref point at the commit
            self.refs.update_head_target(oid, f"commit: {message.splitlines()[0]}")
            self._write_lock(oid)
        return oid

    def _lineage(self, writer: Any, inputs: list[str], sources: list[str | Path]) -> dict[str, Any]:
        """What every commit records about where it came from (docs/lineage.md)."""
        import getpass
        import socket

        from dvault import gitlink
        from dvault.secretargs import redact_argv
        from dvault.trees import lookup

        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        lineage: dict[str, Any] = {  # a secret on the command line must not be published
            "command": redact_argv(["dvault", *sys.argv[1:]]) if sys.argv else [],
            "host": socket.gethostname(),
            "user": user,
        }
        git = gitlink.state(self.root)
        if git is not None:
            lineage["git"] = git.to_meta()
        recorded_inputs = []
        for spec in inputs:
            path, at, rev = spec.rpartition("@")
            if not at:
                path, rev = "", spec
            commit_id = self.resolve(rev)
            item: dict[str, Any] = {"rev": rev, "commit": commit_id.hex()}
            if path:
                rel = self.relpath(path)
                entry = lookup(self.store, self.read_commit(commit_id).tree, rel)
                if entry is None:
                    raise UsageError(f"input {spec!r}: {path} does not exist in {rev}")
                item.update(path=os.fsdecode(rel), id=entry.id.hex())
            recorded_inputs.append(item)
        if recorded_inputs:
            lineage["inputs"] = recorded_inputs
        recorded_sources = []
        for source in sources:
            rel = self.relpath(source)
            full = self.root / os.fsdecode(rel)
            try:
                with open(full, "rb") as f:
                    oid, size = writer.put_file(f, full.stat().st_size)
            except OSError as exc:
                raise UsageError(f"source {source}: {exc.strerror}") from None
            recorded_sources.append({"path": os.fsdecode(rel), "id": oid.hex(), "size": size})
        if recorded_sources:
            lineage["sources"] = recorded_sources
        return lineage

    def _write_lock(self, commit_id: bytes) -> None:
        """Keep dvault.lock (the git-side pin) in step with the data (inside git only)."""
        from dvault import lockfile

        lockfile.write(self, commit_id)

    def log(self, rev: str | None = None, paths: list[str] | None = None) -> Iterator[LogEntry]:
        """Commits reachable from ``rev`` (default HEAD), newest first."""
        import heapq

        from dvault.trees import lookup

        if rev is None:
            _, start = self.refs.head()
            if start is None:
                return
        else:
            start = self.resolve(rev)
        decorations = self.decorations()
        rels = [self.relpath(p) for p in paths or []]
        seen = {start}
        queue = [(-self.read_commit(start).time_ns, start)]
        while queue:
            _, oid = heapq.heappop(queue)
            commit = self.read_commit(oid)
            for parent in commit.parents:
                if parent not in seen:
                    seen.add(parent)
                    heapq.heappush(queue, (-self.read_commit(parent).time_ns, parent))
            if rels:
                before = self.read_commit(commit.parents[0]).tree if commit.parents else None

                def at(tree: bytes | None, rel: bytes) -> Any:
                    entry = lookup(self.store, tree, rel) if tree else None
                    return (entry.mode, entry.id) if entry else None

                if all(at(before, r) == at(commit.tree, r) for r in rels):
                    continue
            yield LogEntry(oid, commit, tuple(decorations.get(oid, ())))

    def decorations(self) -> dict[ObjectId, list[str]]:
        """Names pointing at each commit, for log output (HEAD, branches, tags)."""
        from dvault.revisions import peel

        names: dict[ObjectId, list[str]] = {}
        branch, head = self.refs.head()
        if head is not None:
            names.setdefault(head, []).append(f"HEAD -> {branch}" if branch else "HEAD")
        for name, oid in self.refs.branches().items():
            if name != branch:
                names.setdefault(oid, []).append(name)
        for name, oid in self.refs.tags().items():
            with contextlib.suppress(DvaultError):
                names.setdefault(peel(self, oid, name), []).append(f"tag: {name}")
        return names

    def diff(
        self, old: str | None = None, new: str | None = None, paths: list[str] | None = None
    ) -> list[Any]:
        """Changes between two revisions, or from a revision (default HEAD) to the workspace."""
        from dvault.trees import Change, diff_entries, lookup

        if new is not None:
            a_tree = self.read_commit(self.resolve(old or "HEAD")).tree
            b_tree = self.read_commit(self.resolve(new)).tree
            rels = [self.relpath(p) for p in paths] if paths else [b""]
            changes: list[Change] = []
            for rel in rels:
                a = lookup(self.store, a_tree, rel)
                b = lookup(self.store, b_tree, rel)
                changes.extend(diff_entries(self.store, rel, a, b))
            return changes
        return self._diff_workspace(old, paths)

    def _diff_workspace(self, old: str | None, paths: list[str] | None) -> list[Any]:
        from dvault.objects import TreeEntry
        from dvault.trees import Change, flatten
        from dvault.workspace.scan import under

        _, head = self.refs.head()
        base_rev = old if old is not None else ("HEAD" if head else None)
        base = (
            flatten(self.store, self.read_commit(self.resolve(base_rev)).tree) if base_rev else {}
        )
        status = self.status()
        current = {
            p: TreeEntry(p.rpartition(b"/")[2], e.mode, e.size, e.id)
            for p, e in self.state.stage().items()
        }
        for p in status.deleted:
            current.pop(p, None)
        for p, e in status.workspace.items():
            current[p] = TreeEntry(p.rpartition(b"/")[2], e.mode, e.size, e.id)
        untracked = set(status.untracked)
        rels = [self.relpath(p) for p in paths] if paths else [b""]
        changes = []
        for p in sorted(base.keys() | current.keys() | untracked):
            if not any(under(p, r) for r in rels):
                continue
            a, b = base.get(p), current.get(p)
            if p in untracked:
                st = os.lstat(os.path.join(os.fsencode(self.root), p))
                changes.append(
                    Change(
                        p, a, TreeEntry(p.rpartition(b"/")[2], 0o100644, st.st_size, ObjectId(b""))
                    )
                )
            elif a is None or b is None or a.id != b.id or a.mode != b.mode:
                changes.append(Change(p, a, b))
        return changes

    # -- checkout -------------------------------------------------------------------------

    def checkout(
        self,
        rev: str,
        paths: list[str] | None = None,
        force: bool = False,
        accept_roots: bool = False,
    ) -> Any:
        """Make the workspace match ``rev`` (or only ``paths`` of it), never losing work.

        A whole checkout that would make the project track roots it never tracked
        raises ``NewRoots`` (nothing written) unless ``accept_roots``."""
        rels = [self.relpath(p) for p in paths] if paths else None
        with self.locked():
            target_id = self.resolve(rev)
            branch = rev if rev in self.refs.branches() else None

            def move_head() -> None:
                self.refs.set_head(branch, target_id, f"checkout: moving to {rev}")

            report = self._switch(target_id, rels, force, move_head, accept_roots=accept_roots)
        self._update_gitignore(list(self.roots()))
        return report

    def fast_forward(self, new: ObjectId, message: str, accept_roots: bool = False) -> Any:
        """Advance the current branch to ``new`` (a descendant) and update the workspace
        (new tracked roots need ``accept_roots``, as for :meth:`checkout`)."""
        with self.locked():
            report = self._switch(
                new,
                None,
                False,
                lambda: self.refs.update_head_target(new, message),
                accept_roots=accept_roots,
            )
        self._update_gitignore(list(self.roots()))
        return report

    def checkout_initial(
        self,
        target: ObjectId,
        branch: str | None,
        empty_workspace: bool = False,
        accept_roots: bool = False,
    ) -> Any:
        """First checkout of a fresh clone: everything is new, HEAD goes to ``branch``.

        ``empty_workspace`` (a clone into a directory it just created) skips looking for
        local files in the way: there are none. A project that tracks nothing yet takes
        the roots the target's tree holds (see ``workspace.safety.adopted_roots``).
        """
        from dvault.refs import HEADS

        with self.locked():

            def move_head() -> None:
                if branch is not None:
                    if self.refs.read(HEADS + branch) is None:
                        self.refs.update(HEADS + branch, target, "clone")
                    self.refs.set_head(branch, target, "clone")
                else:
                    self.refs.set_head(None, target, "clone")

            if empty_workspace:  # a fresh clone: nothing to compare with, stream it
                report = self._fill(target, move_head, accept_roots)
            else:
                report = self._switch(
                    target,
                    None,
                    empty_workspace,
                    move_head,
                    base_tree=None,
                    repair=False,
                    accept_roots=accept_roots,
                )
        self._update_gitignore(list(self.roots()))
        return report

    def _fill(self, target_id: ObjectId, move_head: Callable[[], None], accept: bool) -> Any:
        """:meth:`checkout_initial` into an empty workspace (lock held), in batches."""
        from dvault.workspace import checkout as co
        from dvault.workspace.safety import adopted_roots

        target = self.read_commit(target_id)
        roots = adopted_roots(self, target, {}, accept, fresh=True)
        report = co.fill_empty(self, target.tree, target.roots, self.state.sparse(), self.progress)
        report.roots_not_tracked = sorted(target.roots.keys() - roots.keys())
        self.state.set_roots(roots)
        move_head()
        self._write_lock(target_id)
        return report

    _HEAD_BASE: Any = object()

    def _switch(
        self,
        target_id: ObjectId,
        rels: list[bytes] | None,
        force: bool,
        move_head: Callable[[], None],
        base_tree: Any = _HEAD_BASE,
        repair: bool = True,
        accept_roots: bool = False,
    ) -> Any:
        """Checkout's core (lock held): plan, refuse what is unsafe, new roots not
        accepted, conflicts and what exceeds the caps, then write, record, move HEAD.

        With a sparse workspace (a partial clone), paths outside its scopes are recorded in
        the stage but not written.
        """
        from dvault.workspace import checkout as co
        from dvault.workspace.limits import check_room
        from dvault.workspace.safety import adopted_roots, check_changes

        target = self.read_commit(target_id)
        _, head = self.refs.head()
        head_tree = self.read_commit(head).tree if head else None
        roots_after = None
        if rels is None:  # a whole checkout: the project tracks the target's roots after it
            known = self.state.accepted_roots()
            fresh = head is None and not known
            roots_after = adopted_roots(self, target, known, accept_roots, fresh)
        base = head_tree if base_tree is self._HEAD_BASE else base_tree
        changes = co.plan(self, target.tree, rels, force and repair, base)
        sparse = self.state.sparse()
        materialised = [c for c in changes if in_scopes(c.path, sparse)]
        check_changes(self, materialised, target.tree, target.roots)
        if not force:
            conflicts = co.find_conflicts(self, materialised, rels is not None)
            if conflicts:
                shown = "\n  ".join(os.fsdecode(p) for p in conflicts[:50])
                more = f"\n  ... and {len(conflicts) - 50} more" if len(conflicts) > 50 else ""
                raise UncommittedChanges(
                    f"checkout would overwrite uncommitted changes in {len(conflicts)} "
                    f"path(s) (commit them, or use --force):\n  {shown}{more}"
                )
        written = [c.new for c in materialised if c.new is not None]
        total = sum(e.size for e in written if not e.is_dir)
        freed = sum(c.old.size for c in materialised if c.new is None and c.old is not None)
        check_room(self.config, self.root, total, len(written), freed)
        with self.progress("checkout", total) as tick:
            report = co.apply(self, materialised, tick)
        if roots_after is not None:
            report.roots_not_tracked = sorted(target.roots.keys() - roots_after.keys())
            clean_stage = self.state.stage_tree() == base
            co.record(self, changes, target.tree if clean_stage else None)
            self.state.set_roots(roots_after)
            move_head()
            self._write_lock(target_id)
        else:
            co.record(self, changes, None)
        return report

    # -- branches and tags ----------------------------------------------------------------

    def branch(self, name: str, rev: str | None = None) -> ObjectId:
        """Create branch ``name`` at ``rev`` (default HEAD); returns the commit id."""
        with self.locked():
            target = self.resolve(rev or "HEAD")
            self.refs.create_branch(name, target, f"branch: created from {rev or 'HEAD'}")
        return target

    def delete_branch(self, name: str) -> ObjectId:
        """Delete a branch (not the current one); returns the commit it pointed at."""
        with self.locked():
            current, _ = self.refs.head()
            if name == current:
                raise UsageError(f"cannot delete the current branch {name!r}")
            oid: ObjectId = self.refs.delete_branch(name)
        return oid

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
        from dvault.errors import RefExists
        from dvault.identity import author
        from dvault.refs import TAGS, check_ref_name

        check_ref_name(name)
        signer = self._signer(sign, key)
        with self.locked():
            if self.refs.read(TAGS + name) is not None:
                raise RefExists(f"tag {name!r} already exists; tags never move")
            target = self.resolve(rev or "HEAD")
            tag = Tag(target, "commit", name, author(self.config), time.time_ns(), message)
            if signer is not None:
                tag = signer(tag)
            with self.store.writer() as writer:
                oid = writer.put(tag)
            self.refs.create_tag(name, oid)
        return oid

    def _signer(self, sign: bool, key: str | None) -> Callable[[Any], Any] | None:
        """Load the signing key before any work (a missing key fails fast), or None."""
        if not sign:
            if key is not None:
                raise UsageError("--key needs --sign")
            return None
        from dvault import signing

        _, private = signing.load_key(key)
        return lambda obj: signing.sign(obj, private)

    def signature(self, oid: bytes, signers: Any = None) -> Any:
        """The signature status (good, bad, unknown, unsigned) of a commit or tag, against
        the trusted signers (``signing.trusted_signers``: never the work tree)."""
        from dvault import signing

        if signers is None:
            signers = signing.trusted_signers(self.root)
        return signing.check_object(self, oid, signers)

    def read_tag(self, oid: bytes) -> Tag:
        """The annotated tag object ``oid``."""
        tag = self.store.get(oid, ObjectType.TAG)
        assert isinstance(tag, Tag)
        return tag

    # -- remotes --------------------------------------------------------------------------

    def add_remote(
        self,
        name: str,
        url: str,
        endpoint: str | None = None,
        region: str | None = None,
        retention_days: int | None = None,
        profile: str | None = None,
        protect: list[str] | None = None,
        encrypt: bool = False,
        kdf_cost: int | None = None,
    ) -> Any:
        """Record a remote in ``.dvault/config`` (never credentials). ``protect`` names
        branches (glob patterns) that only fast-forward on it, even when forced: they are
        written into the remote's create-only marker now, so they bind every client. With
        ``encrypt`` the remote is first set up for client-side encryption (or joined, when
        it already is): see dvault/remote/keys.py."""
        from dvault.remote.backend import RemoteSpec

        cfg.check_remote_name(name)
        if "://" not in url:
            url = str((Path.cwd() / url).resolve()) if not Path(url).is_absolute() else url
        elif not url.startswith(("s3://", "file://")):
            raise UsageError(f"unsupported remote URL {url!r} (use a path, file:// or s3://)")
        if retention_days is not None and (retention_days <= 0 or not url.startswith("s3://")):
            raise UsageError("--retention needs a positive number of days and an s3:// remote")
        spec = RemoteSpec(name, url, endpoint, region, retention_days, profile)
        if kdf_cost is not None and not encrypt:
            raise UsageError("--kdf-cost needs --encrypt")
        if encrypt:
            spec = self._encrypt_remote(spec, kdf_cost, protect or [])
        if retention_days is not None:  # the bucket's default retention, not the pusher's
            from dvault.remote.s3 import check_retention

            check_retention(spec, self.warn)
        with self.locked():
            config = cfg.load(self.dir / "config")
            remotes = config.setdefault("remote", {})
            if name in remotes:
                raise UsageError(f"remote {name!r} already exists")
            if protect:  # encrypted: written by _encrypt_remote; either way, check it
                from dvault.remote.registry import open_backend
                from dvault.remote.session import protect_remote

                protect_remote(open_backend(spec, self.root), protect)
            remotes[name] = spec.to_config()
            cfg.save(self.dir / "config", config)
            self.reload_config()
        return spec

    def _encrypt_remote(self, spec: Any, kdf_cost: int | None, protect: list[str]) -> Any:
        """Set up (or join) encryption on the remote before recording it."""
        import dataclasses

        from dvault.remote import keys
        from dvault.remote.registry import open_backend

        if spec.name in self.config.get("remote", {}):
            raise UsageError(f"remote {spec.name!r} already exists")
        backend = open_backend(spec, self.root)
        key_id = keys.set_up(backend, spec.name, kdf_cost or keys.DEFAULT_LOG_N, protect)
        return dataclasses.replace(spec, encrypt=True, key_id=key_id)

    def remove_remote(self, name: str) -> None:
        """Forget a remote (config, tracking refs, caches); the remote itself is untouched."""
        import shutil

        with self.locked():
            config = cfg.load(self.dir / "config")
            if name not in config.get("remote", {}):
                raise UsageError(f"no remote named {name!r}")
            del config["remote"][name]
            cfg.save(self.dir / "config", config)
            self.reload_config()
            shutil.rmtree(self.dir / "remotes" / name, ignore_errors=True)
            shutil.rmtree(self.dir / "refs" / "remotes" / name, ignore_errors=True)

    def remotes(self) -> dict[str, Any]:
        """Configured remotes by name (``RemoteSpec``: url, endpoint, encrypt, ...)."""
        from dvault.remote.session import remote_specs

        return remote_specs(self)

    def push(
        self, remote: str | None = None, refs: list[str] | None = None, force: bool = False
    ) -> Any:
        """Send ``remote`` (default: the only remote, or ``origin``) the packs it lacks and
        append the updates of ``refs`` (default: the current branch) to its ref log."""
        from dvault.remote.push import push
        from dvault.remote.session import pick_remote

        return push(self, pick_remote(self, remote), refs or None, force=force)

    def fetch(self, remote: str | None = None, refs: list[str] | None = None) -> Any:
        """Bring in a remote's refs (default: all) and the objects they need, verified."""
        from dvault.remote.fetch import fetch
        from dvault.remote.session import pick_remote

        return fetch(self, pick_remote(self, remote), refs or None)

    def pull(
        self, remote: str | None = None, branch: str | None = None, accept_roots: bool = False
    ) -> Any:
        """Fetch ``branch`` (default: the current one) and fast-forward the workspace;
        returns the checkout report, or None when already up to date. New tracked roots
        need ``accept_roots`` (see :meth:`checkout`)."""
        from dvault.remote.clone import pull
        from dvault.remote.session import pick_remote

        _, report = pull(self, pick_remote(self, remote), branch, accept_roots)
        return report

    @classmethod
    def clone(
        cls,
        url: str,
        dest: Path | str,
        rev: str | None = None,
        paths: list[str] | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        profile: str | None = None,
    ) -> Repo:
        """Create ``dest`` from the remote at ``url`` and check out ``rev`` (default its
        main branch); with ``paths``, a partial clone holding only those paths' data."""
        from dvault.remote.clone import clone

        target = Path(dest).resolve()
        clone(url, target, rev, paths, endpoint, region, profile)
        return cls(target)

    def verify(
        self,
        revs: list[str] | None = None,
        remote: str | None = None,
        read_data: bool = False,
        sample: int | None = None,
    ) -> Any:
        """Check that every object the refs (or ``revs``) need is present, and intact with
        ``read_data``; or check a remote instead. The report's ``ok`` says whether it is."""
        from dvault.verify import verify_local, verify_remote

        if remote is not None:
            from dvault.remote.session import pick_remote

            return verify_remote(self, pick_remote(self, remote), read_data)
        return verify_local(self, revs, read_data, sample)

    def gc(self, dry_run: bool = False, keep_within: str = "14d") -> Any:
        """Remove objects nothing references (never on remotes); see ``dvault gc``."""
        from dvault.maintenance.gc import collect, parse_duration

        return collect(self, dry_run, parse_duration(keep_within))

    def repair(self) -> Any:
        """Rebuild the index, salvage damaged packs, re-fetch from remotes, restore refs."""
        from dvault.maintenance.repair import repair

        return repair(self)

    def review(self, git_rev: str = "HEAD", read_data: bool = False) -> Any:
        """Reproducibility review of a git revision (pinned data, lineage, signatures,
        whether each remote can restore it); ``passed`` is the verdict."""
        from dvault.review import review

        return review(self, git_rev, read_data)

    def lineage(self, rev: str = "HEAD") -> Any:
        """Where a version came from: the graph of parents, inputs and sources."""
        from dvault.lineage import build

        return build(self, rev)

    # -- reading versions without a checkout ----------------------------------------------

    def snapshot(self, rev: str = "HEAD", remote: str | None = None) -> Snapshot:
        """Version ``rev`` as a :class:`dvault.Snapshot` (``open``, ``ls``, ``walk``,
        ``stat``), read from the local store, or with ``remote`` straight from that remote.
        The snapshot does not close this repository."""
        from dvault.reader import LocalSource, Snapshot, open_source

        source = LocalSource(self) if remote is None else open_source(self, remote)
        try:
            return Snapshot(source, rev, owns_source=True)
        except BaseException:
            source.close()
            raise

    # -- git integration ------------------------------------------------------------------

    def _update_gitignore(self, roots: list[str]) -> None:
        """Keep tracked data out of git: add each root to the git root's ``.gitignore``."""
        git_root = find_git_root(self.root)
        if git_root is None or not roots:
            return
        path = git_root / ".gitignore"
        try:
            existing = path.read_text() if path.exists() else ""
        except OSError:
            return
        lines = set(existing.splitlines())
        prefix = self.root.relative_to(git_root).as_posix()
        wanted = []
        for root in sorted(roots):
            rel = f"{prefix}/{root}" if prefix != "." else root
            entry = ignore_pattern(rel)
            if entry not in lines:
                wanted.append(entry)
        if not wanted:
            return
        text = existing
        if text and not text.endswith("\n"):
            text += "\n"
        if "# dvault: tracked data" not in lines:
            text += "# dvault: tracked data\n"
        text += "\n".join(wanted) + "\n"
        write_durable(path, text.encode())
