"""Checkout: make the workspace and the stage match a commit, touching only what differs.

1. Plan: a Merkle diff from the current base (HEAD, or the stage for ``-- PATH``) to the
   target lists the leaf paths that change; nothing else is looked at.
2. Check: a change that would overwrite or remove uncommitted work (a staged change, a
   modified file, an untracked file in the way) is refused unless ``force``, naming every
   such path; a symlink that points out of the work tree is refused always.
3. Apply: new content is written to temporary files next to their targets (on all cores,
   every object verified by hash), the file system is synced once, then each temporary
   file is renamed over its target: a file is always either its old or its new version.
4. Record: the stage and its stat data, then HEAD, are updated last.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dvault import textsafe
from dvault.errors import UsageError
from dvault.fsutil import fsync_dir, os_error, sync_filesystem, write_durable
from dvault.hashing import ObjectId
from dvault.repository import ProgressFactory, Repository
from dvault.store import erased
from dvault.store.state import FileStat, StageEntry, now_ns
from dvault.treeobjects import MODE_DIR, MODE_EXEC, MODE_LINK, TreeEntry
from dvault.trees import EMPTY_TREE, Change, diff_entries, diff_trees, expand, lookup
from dvault.workspace.fileio import reader_pool, write_temp
from dvault.workspace.limits import check_room
from dvault.workspace.lostfound import LostEntry
from dvault.workspace.parallel import write_in_processes
from dvault.workspace.prefill import Prefill, remove_scratch
from dvault.workspace.safety import SymlinkGuard, check_changes
from dvault.workspace.scan import CHECKOUT_TEMP_SUFFIX, in_scopes
from dvault.workspace.staging import write_stage_trees
from dvault.workspace.status import WORKERS, read_entry

Progress = Callable[[int], None]


@dataclass
class CheckoutReport:
    written: int = 0
    removed: int = 0
    bytes_written: int = 0
    changes: list[Change] = field(default_factory=list)
    roots_not_tracked: list[str] = field(default_factory=list)
    """Roots of the commit a first checkout did not start tracking: its tree holds
    nothing there (safety.adopted_roots)."""
    kept: LostEntry | None = None
    """Where a forced checkout kept the uncommitted files it overwrote or removed."""
    erased: list[str] = field(default_factory=list)
    """One line per file left out because ``dvault redact`` erased its content
    ("PATH: erased on DATE by USER: REASON"); every other file was written."""
    erased_paths: set[bytes] = field(default_factory=set)


def _same(a: StageEntry | TreeEntry | None, b: StageEntry | TreeEntry | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.mode == b.mode and a.id == b.id


class _Workspace:
    """Point lookups of what is on disk now, trusting stat data where it still matches."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.root = os.fsencode(repo.root)

    def full(self, path: bytes) -> bytes:
        return os.path.join(self.root, path)

    def current(self, path: bytes, staged: StageEntry | None) -> StageEntry | str | None:
        """The content at ``path``: an entry, None when absent, "dir" for a non-empty dir."""
        try:
            st = os.lstat(self.full(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISDIR(st.st_mode):
            return StageEntry(MODE_DIR, 0, EMPTY_TREE) if not os.listdir(self.full(path)) else "dir"
        mode = (
            MODE_LINK
            if stat.S_ISLNK(st.st_mode)
            else (MODE_EXEC if st.st_mode & 0o111 else 0o100644)
        )
        fs = FileStat.of(st, mode)
        if staged is not None and staged.matches(fs):
            return staged
        return read_entry(self.repo.root, path, fs)


def current_content(
    repo: Repository, path: bytes, staged: StageEntry | None
) -> StageEntry | str | None:
    """What is at ``path`` now (see :meth:`_Workspace.current`)."""
    return _Workspace(repo).current(path, staged)


_HEAD = object()


def plan(
    repo: Repository,
    target_tree: ObjectId,
    paths: list[bytes] | None,
    force: bool = False,
    base_tree: Any = _HEAD,
    overlay: bool = True,
) -> list[Change]:
    """The leaf changes a checkout makes.

    A full checkout changes what differs between HEAD and the target; local changes
    elsewhere are carried over (as git does). Restoring paths, or forcing, also repairs
    every file under the scope that differs on disk (edited or deleted locally).

    Restoring paths overlays, as ``git checkout REV -- PATH`` does: a staged file under a
    path that the target lacks is left alone (unless a file of the target must go where it
    is); without ``overlay`` the paths mirror the target (such files are removed). A path
    the target lacks is an error, unless not ``overlay`` and the stage has it.
    """
    store = repo.store
    if paths is None:
        if base_tree is _HEAD:
            _, head = repo.refs.head()
            base_tree = repo.read_commit(head).tree if head else None
        full = list(diff_trees(store, base_tree, target_tree))
        if force:
            full += _repairs(repo, target_tree, [b""], {c.path for c in full})
        return full
    stage_tree = repo.state.stage_tree()
    changes: list[Change] = []
    for path in paths:
        old = lookup(store, stage_tree, path) if stage_tree else None
        new = lookup(store, target_tree, path)
        if new is None and (old is None or overlay):
            raise UsageError(f"path {os.fsdecode(path)!r} is not in that revision")
        if old is not None and not path:
            old = TreeEntry(b"", MODE_DIR, old.size, old.id)
        changes.extend(diff_entries(store, path, old, new))
    if overlay:
        changes = _overlaid(changes)
    return changes + _repairs(repo, target_tree, paths, {c.path for c in changes})


def _overlaid(changes: list[Change]) -> list[Change]:
    """``changes`` without their removals, except a removal that makes room for a written
    path (a file where the target has a folder): an overlay never deletes a file of its
    own accord."""
    in_the_way: set[bytes] = set()
    for change in changes:
        path = change.path if change.new is not None else b""
        while path and path not in in_the_way:
            in_the_way.add(path)
            path = path.rpartition(b"/")[0]
    return [c for c in changes if c.new is not None or c.path in in_the_way]


def _repairs(
    repo: Repository, target_tree: ObjectId, scopes: list[bytes], planned: set[bytes]
) -> list[Change]:
    """Changes that put back target files which differ on disk from what the stage says."""
    ws = _Workspace(repo)
    repairs = []
    for scope in scopes:
        entry = lookup(repo.store, target_tree, scope)
        if entry is None:
            continue
        if not scope:
            entry = TreeEntry(b"", MODE_DIR, entry.size, entry.id)
        for path, leaf in expand(repo.store, scope, entry):
            if path in planned:
                continue
            now = ws.current(path, repo.state.stage_get(path))
            if isinstance(now, str) or not _same(now, leaf):
                repairs.append(Change(path, None, leaf))
    return repairs


def find_conflicts(repo: Repository, changes: list[Change], paths_mode: bool) -> list[bytes]:
    """Paths whose uncommitted content the changes would overwrite or remove."""
    ws = _Workspace(repo)
    state = repo.state
    _, head = repo.refs.head()
    head_tree = repo.read_commit(head).tree if head else None
    removed = {c.path for c in changes if c.new is None}
    conflicts = []
    for change in changes:
        staged = state.stage_get(change.path)
        if paths_mode:
            committed = lookup(repo.store, head_tree, change.path) if head_tree else None
        else:
            committed = change.old
        now = ws.current(change.path, staged)
        if paths_mode and now is None:
            continue  # restoring a missing path: there is no work on disk to lose
        if now == "dir":
            if change.new is not None and _blocked_dir(ws, change.path, removed):
                conflicts.append(change.path)
            continue
        assert not isinstance(now, str)
        # a missing file holds no work to lose; a staged change or an edit does
        dirty = not _same(staged, committed) or (now is not None and not _same(now, staged))
        if dirty and not _same(now, change.new):
            conflicts.append(change.path)
    for change in changes:
        if change.new is not None:
            conflicts.extend(_blocked_parents(ws, change.path, removed))
    return sorted(set(conflicts))


def _blocked_dir(ws: _Workspace, path: bytes, removed: set[bytes]) -> bool:
    """A directory on disk where a file must go, holding files the checkout won't remove."""
    for dirpath, _dirs, files in os.walk(ws.full(path)):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), ws.root)
            if rel not in removed:
                return True
    return False


def _blocked_parents(ws: _Workspace, path: bytes, removed: set[bytes]) -> list[bytes]:
    blocked = []
    parent = os.path.dirname(path)
    while parent:
        full = ws.full(parent)
        if os.path.lexists(full) and not os.path.isdir(full) and parent not in removed:
            blocked.append(parent)
        parent = os.path.dirname(parent)
    return blocked


BATCH = 64
"""Files per write task: per-task scheduling costs more than a small file's write."""
PROCESS_MIN_FILES = 1000
"""From this many files on, worker processes write them (see workspace/parallel.py)."""
FSYNC_DIRS = 8
"""Renames into more directories than this are made durable by one ``syncfs`` (one
journal commit) rather than an fsync of each directory (each its own commit on ext4: 89
of them took 0.30 s in a checkout of the benchmark's v1 -> v2 change)."""


def _replace(tmp: bytes, full: bytes) -> None:
    """Rename into place; an empty directory standing where the file goes is removed
    (conflict checks refused a non-empty one, unless forced)."""
    try:
        os.replace(tmp, full)
    except IsADirectoryError:
        os.rmdir(full)
        os.replace(tmp, full)


def remove_interrupted_temps(repo: Repository, prefill: Prefill | None = None) -> None:
    """Delete the temp files of a checkout that was killed before renaming them into
    place: each checkout lists the directories it writes into (a journal in ``tmp/``)
    before writing and removes the list when done, so only a crash leaves one behind.
    Likewise a killed clone's scratch files (but those of ``prefill``, in use)."""
    remove_scratch(repo.dir, prefill.scratch if prefill is not None else None)
    for journal in (repo.dir / "tmp").glob("checkout-*.dirs"):
        with contextlib.suppress(OSError):
            for directory in journal.read_bytes().split(b"\0"):
                with contextlib.suppress(OSError):
                    for name in os.listdir(directory):
                        if name.endswith(CHECKOUT_TEMP_SUFFIX):
                            with contextlib.suppress(OSError):
                                os.unlink(os.path.join(directory, name))
            journal.unlink()


def apply(
    repo: Repository,
    changes: list[Change],
    progress: Progress | None,
    ready: dict[bytes, bytes] | None = None,
    prefill: Prefill | None = None,
) -> CheckoutReport:
    """Change the workspace as planned: removals, then new content via temp files.

    Nothing is removed, and no directory made, below a symlink (:class:`SymlinkGuard`:
    the plan was checked before, this holds the rule after the removals too); every file
    is then written into a directory made or checked that way. ``ready`` maps paths to
    files already holding their verified content (a clone's scratch files, of
    ``prefill``): those are synced and renamed into place like the temp files written
    here, not written again."""
    remove_interrupted_temps(repo, prefill)
    ws = _Workspace(repo)
    guard = SymlinkGuard(ws.root)
    report = CheckoutReport(changes=changes)
    # removals first (deepest first), so a file can replace a directory and vice versa
    for change in sorted((c for c in changes if c.new is None), key=lambda c: c.path, reverse=True):
        try:
            guard.remove(change.path)
        except OSError as exc:
            raise os_error(exc, "remove", os.fsdecode(change.path)) from None
        report.removed += 1
        _prune_empty_parents(ws, change.path)

    writes = [c for c in changes if c.new is not None]
    directories = {c.path.rpartition(b"/")[0] for c in writes}
    directories.update(c.path for c in writes if c.new is not None and c.new.is_dir)
    for directory in sorted(directories):
        try:
            guard.makedirs(directory)
        except OSError as exc:
            raise os_error(exc, "create directory", os.fsdecode(directory)) from None

    files = [c for c in writes if c.new is not None and not c.new.is_dir]
    files = _skip_erased(repo, files, report)
    created: list[bytes] = []  # every temp file written, even by writes after a failed one
    prefilled: list[tuple[Change, bytes]] = []
    if ready:
        prefilled = [(c, ready[c.path]) for c in files if c.path in ready]
        files = [c for c in files if c.path not in ready]
        created.extend(tmp for _, tmp in prefilled)
        if progress is not None:
            progress(sum(c.new.size for c, _ in prefilled if c.new is not None))

    readers: Executor | None = None  # the chunked files' read-ahead, while threads write

    def write(batch: list[Change]) -> list[tuple[Change, bytes]]:
        done = []
        for change in batch:
            assert change.new is not None
            tmp = write_temp(repo.store, ws.full(change.path), change.new, readers)
            created.append(tmp)
            done.append((change, tmp))
        if progress is not None:
            progress(sum(c.new.size for c in batch if c.new is not None))
        return done

    journal = repo.dir / "tmp" / f"checkout-{uuid.uuid4().hex}.dirs"
    if files:
        write_durable(journal, b"\0".join({os.path.dirname(ws.full(c.path)) for c in files}))
    temps: list[tuple[Change, bytes]] = prefilled
    try:
        if len(files) >= PROCESS_MIN_FILES and WORKERS > 1:
            items = [(ws.full(c.path), c.new) for c in files if c.new is not None]
            written = write_in_processes(repo, items, progress or (lambda _n: None), WORKERS)
            created.extend(written)
            temps.extend(zip(files, written, strict=True))
        else:
            batches = [files[i : i + BATCH] for i in range(0, len(files), BATCH)]
            with reader_pool(c.new for c in files) as readers, ThreadPoolExecutor(WORKERS) as pool:
                for done in pool.map(write, batches):
                    temps.extend(done)
        if temps:
            sync_filesystem(repo.root)
        touched_dirs = set()
        for change, tmp in temps:
            full = ws.full(change.path)
            _replace(tmp, full)
            touched_dirs.add(os.path.dirname(full))
            report.written += 1
            assert change.new is not None
            report.bytes_written += change.new.size
        if len(touched_dirs) > FSYNC_DIRS:
            sync_filesystem(repo.root)  # the renames: one journal commit, not one per dir
        else:
            for d in touched_dirs:
                fsync_dir(d)  # type: ignore[arg-type]
    except BaseException as exc:
        for tmp in created:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if not isinstance(exc, OSError):
            raise
        raise os_error(exc, "write", getattr(exc, "filename", "workspace") or "workspace") from None
    finally:
        with contextlib.suppress(OSError):
            journal.unlink()
    return report


def _skip_erased(repo: Repository, files: list[Change], report: CheckoutReport) -> list[Change]:
    """``files`` without those whose content ``dvault redact`` erased (store/erased.py),
    each named in ``report.erased``: one erased path never stops the others. Without a
    redaction record nothing was erased (and no file's presence needs asking)."""
    if not (repo.dir / erased.FILE).exists():
        return files
    absent = [c for c in files if c.new is not None and repo.store.type_of(c.new.id) is None]
    if not absent:
        return files
    gone = erased.erased(repo.dir)
    for change in absent:
        assert change.new is not None
        record = gone.get(change.new.id)
        if record is not None:
            report.erased_paths.add(change.path)
            report.erased.append(f"{textsafe.path(os.fsdecode(change.path))}: {record.detail()}")
    return [c for c in files if c.path not in report.erased_paths]


def _prune_empty_parents(ws: _Workspace, path: bytes) -> None:
    parent = os.path.dirname(path)
    while parent:
        try:
            os.rmdir(ws.full(parent))
        except OSError:
            return
        parent = os.path.dirname(parent)


def _stage_edits(
    repo: Repository, changes: list[Change]
) -> tuple[list[tuple[bytes, StageEntry]], list[bytes]]:
    """The stage entries (with fresh stat data) and deletions that ``changes`` make."""
    ws = _Workspace(repo)
    now = now_ns()
    puts: list[tuple[bytes, StageEntry]] = []
    deletes: list[bytes] = []
    for change in changes:
        if change.new is None:
            deletes.append(change.path)
            continue
        new = change.new
        entry = StageEntry(new.mode, 0 if new.is_dir else new.size, new.id)
        try:
            st = os.lstat(ws.full(change.path))
            fs = FileStat.of(st, new.mode)
        except OSError:
            fs = None
        puts.append((change.path, entry.with_stat(fs, now)))
    return puts, deletes


STREAM_BATCH = 100_000
"""Files per batch of a first checkout into an empty workspace (see :func:`fill_empty`):
a million files as one plan cost ~350 MB in the parent and ~150 MB in each worker."""


def _batches(repo: Repository, tree: ObjectId) -> Iterator[list[Change]]:
    """Every leaf of ``tree`` as changes from nothing, STREAM_BATCH at a time. Only one
    batch is alive at a time if the caller drops each before asking for the next."""
    changes = diff_trees(repo.store, None, tree)
    while True:
        batch = list(itertools.islice(changes, STREAM_BATCH))
        if not batch:
            return
        yield batch
        del batch  # before the next one is built


def fill_empty(
    repo: Repository,
    target_tree: ObjectId,
    roots: dict[str, str],
    sparse: list[bytes] | None,
    progress: ProgressFactory,
    prefill: Prefill | None = None,
) -> CheckoutReport:
    """Check out ``target_tree`` (of a commit tracking ``roots``) into an empty workspace
    (a fresh clone), in batches.

    Memory stays flat in the number of files: the plan is streamed from the tree, never
    held whole. Every path is checked for safety in a first pass, and the bytes and files
    the whole checkout writes against the caps and the room on disk, so a hostile tree is
    refused before anything is written; then each batch is written (on all cores), synced,
    renamed into place and recorded in the stage, and the stage's tree is set last. Paths
    outside ``sparse`` are recorded but not written. Not for a workspace that holds
    anything: an interrupted fill leaves part of the files, which a clone removes.
    ``prefill`` holds files whose content the fetch already wrote (workspace/prefill.py,
    numbered in the order the tree's changes come here): they are renamed into place.
    A tree of one batch is walked once: the checked batch is the one written.
    """
    guard = SymlinkGuard(os.fsencode(repo.root))

    def check(batch: list[Change]) -> tuple[int, int]:
        written = [c for c in batch if in_scopes(c.path, sparse)]
        check_changes(repo, written, target_tree, roots, guard)
        files = [c.new for c in written if c.new is not None]
        return sum(e.size for e in files if not e.is_dir), len(files)

    def fill(batch: list[Change], first: int, tick: Progress) -> None:
        repo.store.index.release_pages()  # what fetching touched, then each batch's tree reads
        ready: dict[bytes, bytes] = {}
        if prefill is not None:
            for number, change in enumerate(batch, first):
                tmp = prefill.take(number)
                if tmp is not None:
                    ready[change.path] = tmp
        written = [c for c in batch if in_scopes(c.path, sparse)]
        part = apply(repo, written, tick, ready, prefill)
        report.written += part.written
        report.bytes_written += part.bytes_written
        repo.state.update_stage(put=_stage_edits(repo, batch)[0])

    def batches_of_tree() -> Iterator[list[Change]]:
        kept = prefill.changes if prefill is not None else None
        if kept is None or len(kept) > STREAM_BATCH:
            return _batches(repo, target_tree)
        return iter([kept] if kept else [])

    total = files = batches = 0
    only: list[Change] | None = None
    for batch in batches_of_tree():
        nbytes, nfiles = check(batch)
        total, files = total + nbytes, files + nfiles
        batches += 1
        only = batch if batches == 1 else None
        del batch  # one batch alive at a time
    check_room(repo.config, repo.root, total, files)
    report = CheckoutReport()
    with progress("checkout", total) as tick:
        if only is not None:
            fill(only, 0, tick)
            del only
        elif batches:
            first = 0
            for batch in _batches(repo, target_tree):
                fill(batch, first, tick)
                first += len(batch)
                del batch
    repo.state.update_stage(tree=target_tree)
    return report


def record(repo: Repository, changes: list[Change], stage_tree_after: ObjectId | None) -> None:
    """Write the checked-out content and its fresh stat data into the stage."""
    puts, deletes = _stage_edits(repo, changes)
    if stage_tree_after is None:
        edits: dict[bytes, StageEntry | None] = {**dict.fromkeys(deletes), **dict(puts)}

        def stage_after() -> list[tuple[bytes, StageEntry]]:
            stage = repo.state.stage()
            for path in deletes:
                stage.pop(path, None)
            stage.update(puts)
            return sorted(stage.items())

        with repo.store.writer() as writer:
            base = repo.state.stage_tree()
            stage_tree_after = write_stage_trees(writer, stage_after, base, edits)
    repo.state.update_stage(put=puts, delete=deletes, tree=stage_tree_after)
