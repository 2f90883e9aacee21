"""``add``: store the current content of paths and record it in the stage.

Files are read, hashed, chunked and compressed on all cores; the main thread only walks
and bookkeeps. Files whose stat data still matches the stage are skipped without being
opened. The order is the durable one: objects are sealed into packs and indexed before
the stage that refers to them is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from stat import S_ISDIR, S_ISLNK, S_ISREG
from typing import Any

from dvault.chunking import CHUNK_THRESHOLD
from dvault.errors import CorruptObject, CorruptPack, MissingObject, UsageError
from dvault.hashing import ObjectId, ObjectType
from dvault.repository import Repository
from dvault.store import state as stored
from dvault.store.objectstore import ObjectWriter
from dvault.store.state import RACY_NS, FileStat, StageEntry, WorkspaceState
from dvault.treeobjects import MODE_DIR
from dvault.trees import EMPTY_TREE, EMPTY_TREE_BODY, Leaf, build_from_sorted, update_tree
from dvault.workspace.fileio import store_path
from dvault.workspace.parallel import StoreWorkers
from dvault.workspace.safety import RootCover
from dvault.workspace.scan import (
    Ignore,
    LaterSignatures,
    load_ignore,
    scan_workspace,
    under,
)
from dvault.workspace.status import WORKERS

BATCH = 64
"""Files per worker task: large enough to amortise scheduling, small enough to balance."""

BATCH_BYTES = 64 << 20
"""Bytes per worker task: a task holding one large file holds only that file."""

TASK_FILES = 2000
"""Files per batch handed to a store worker."""

PROCESS_MIN_FILES = 1000
"""From this many files on, worker processes store them (see workspace/parallel.py).

Storing a small file is mostly Python bookkeeping around short C calls, so threads
serialise on the GIL (measured: 2 threads no faster than 1). Processes cost ~0.1 s to
start, worth it only for many files; fewer, larger files stay on threads, where hashing,
chunking and compression release the GIL."""


@dataclass
class StageReport:
    """What one ``add`` changed in the stage."""

    added: int = 0
    modified: int = 0
    deleted: int = 0
    unchanged: int = 0
    bytes_read: int = 0
    bytes_stored: int = 0


def stage_paths(
    repo: Repository,
    scopes: Iterable[bytes],
    desc: str = "add",
    roots: Mapping[str, str] | None = None,
    sign: bool = False,
) -> StageReport:
    """Make the stage match the workspace under each scope (files, deletions, empty dirs).

    Files are stored as the scan finds them, and with many files the stage is written in
    batches as their packs are indexed, so memory stays flat however many files are new.
    Every scope must lie under one of the tracked ``roots`` (default: the project's, each
    validated): what is staged is what a checkout of the commit would write, never more.
    With ``sign`` (add, commit -a) the directories found clean afterwards keep their
    signatures, so the next ``status`` need not compare them (:func:`_sign`).
    """
    scopes = list(scopes)
    state = repo.state
    base = os.fsencode(repo.root)
    roots = state.roots() if roots is None else roots
    covered = RootCover(roots)
    for scope in scopes:
        if not covered(scope):
            raise UsageError(f"path {os.fsdecode(scope)!r} is not under a tracked root")
    for scope in scopes:
        if not _is_data(os.path.join(base, scope)) and not state.staged_under(scope):
            raise UsageError(f"path {os.fsdecode(scope)!r} did not match any files")
    report = StageReport()
    stage = _StageBatches(state, report, state.stage_tree(), track=sign)
    ignore = load_ignore(repo.root)
    later = LaterSignatures() if sign else None
    with repo.store.writer() as writer:
        storer = _Storer(repo, writer, state.hash_cache(), stage, desc)
        try:
            # only paths whose stat no longer proves their staged content (and new ones)
            # come back, in batches, to be stored while the scan goes on
            scan = scan_workspace(
                repo.root, scopes, ignore, state, WORKERS, sink=storer.take, later=later
            )
            storer.finish()
        finally:
            storer.close()
        deletions = scan.deleted
        sparse = state.sparse()
        if sparse is not None:  # a partial clone: paths outside its scopes are not deleted
            deletions = [p for p in deletions if any(under(p, s) for s in sparse)]
        report.unchanged = scan.compared - storer.suspects - len(deletions)
        report.deleted = len(deletions)
        tree = stage.write_trees(writer, deletions)
        report.bytes_stored = writer.bytes_written + storer.bytes_stored
    # packs are sealed and indexed (writer closed) before the stage refers to them
    stage.finish(deletions, tree)
    if later is not None:
        _sign(repo, scopes, sorted(os.fsencode(r) for r in roots), later, stage, ignore)
    return report


def _sign(
    repo: Repository,
    scopes: list[bytes],
    roots: list[bytes],
    later: LaterSignatures,
    stage: _StageBatches,
    ignore: Ignore | None,
) -> None:
    """Record the signature of every directory clean after an add (state.py's ``dirsig``).

    The add's own scan signed each directory it walked (:func:`scan_workspace` with
    ``sign_later``); a directory is clean once every file found there is staged with the
    stat it was listed with and is not racy, which ``stage`` checked of each entry it
    staged. When the scan cannot tell (a walk split over processes) and this add forgot
    every signature (more than SIGNATURE_DROP_ALL paths) -- or when the scopes leave
    roots unwalked -- every root is compared once more instead, for that side effect:
    paying for it here, in a command that took seconds anyway, keeps the next ``status``
    from paying it. The signatures are written only while the stage is still the one
    this add left (the generation check of ``record_signatures``)."""
    state = repo.state
    whole = all(any(under(root, scope) for scope in scopes) for root in roots)
    if later.complete and (whole or not stage.dropped_all):
        with state.env.begin(db=state.stage_db) as txn:
            generation = state.stage_generation(txn)
        dirty = stage.dirty
        clean = {d: s for d, s in later.found.items() if d not in dirty}
        state.record_signatures(clean, generation)
    elif stage.dropped_all:
        # deferred to here: the whole-project comparison only a large add pays for
        scan_workspace(repo.root, roots, ignore, state, WORKERS)


STAGE_BATCH = 20_000
"""From this many stored files on, the stage is written in batches as they come in (the
first batch forgets the stage's tree id, recorded again at the end)."""

EDITS_MAX = 100_000
"""Up to this many changed paths, the stage's trees are updated in place; beyond, they
are rebuilt from the stage (streamed from LMDB), so the edits need not be kept."""


class _StageBatches:
    """The stage entries an add produced, counted in its report and written to the stage.

    Entries are buffered; once STAGE_BATCH are, and their objects are indexed, they are
    written (``flush``). An add that never reaches a batch writes everything, with the new
    tree id, in one transaction at the end as before."""

    def __init__(
        self,
        state: WorkspaceState,
        report: StageReport,
        base: ObjectId | None,
        track: bool = False,
    ) -> None:
        """``track``: collect in ``dirty`` the directories of entries a status would
        compare again (no stat data, or racy), which :func:`_sign` leaves unsigned."""
        self.state = state
        self.report = report
        self.base = base
        self.buffer: dict[bytes, StageEntry] = {}
        self.edits: dict[bytes, StageEntry | None] | None = {} if base is not None else None
        self.written = False  # a batch is in the stage, whose tree id is forgotten
        self.track = track
        self.dirty: set[bytes] = set()
        self.changed = 0  # paths written to the stage (deletions too)

    @property
    def dropped_all(self) -> bool:
        """True when a stage write of this add forgot every directory signature."""
        # read at the call, not bound at import: the threshold is the state module's
        return self.changed > stored.SIGNATURE_DROP_ALL

    def add(self, done: Iterable[tuple[bytes, StageEntry]], durable: bool) -> None:
        """Take stored entries; ``durable`` when their objects are indexed already (then a
        full buffer is written to the stage at once)."""
        if self.track:
            done = list(done)
            dirty = self.dirty
            for path, entry in done:
                # what DirectoryScanner._compare would find suspect (StageEntry.matches)
                if not entry.cached_at or entry.mtime_ns >= entry.cached_at - RACY_NS:
                    dirty.add(path.rpartition(b"/")[0])
        self.buffer.update(done)
        if durable and len(self.buffer) >= STAGE_BATCH:
            self.flush()

    def flush(self, deletions: Collection[bytes] = ()) -> None:
        self._count()
        self.changed = max(self.changed, len(self.buffer) + len(deletions))
        self.state.update_stage(put=self.buffer.items(), delete=deletions, forget_tree=True)
        self.state.release_pages()
        self.buffer = {}
        self.written = True

    def _count(self) -> None:
        """Count the buffered entries in the report and remember them as tree edits."""
        report = self.report
        before = self.state.stage_get_many(self.buffer)  # only what changed
        for path, entry in self.buffer.items():
            old = before.get(path)
            if old is None:
                report.added += 1
            elif not old.same_content(entry):
                report.modified += 1
            report.bytes_read += entry.size if entry.mode != MODE_DIR else 0
        if self.edits is not None:
            self.edits.update(self.buffer)
            if len(self.edits) > EDITS_MAX:
                self.edits = None

    def write_trees(self, writer: ObjectWriter, deletions: list[bytes]) -> ObjectId:
        """Store the trees of the stage after this add; returns the root."""
        if self.edits is not None:
            self.edits.update(dict.fromkeys(deletions))
            if len(self.edits) + len(self.buffer) > EDITS_MAX:
                self.edits = None

        def whole_stage() -> Iterable[tuple[bytes, StageEntry]]:
            """Write what is left to the stage (its objects stored first), then read it
            all back in order: the rebuild path never holds the stage in memory."""
            writer.flush()
            self.flush(deletions)
            return self.state.iter_stage()

        edits = None
        if self.edits is not None:
            edits = {**self.edits, **self.buffer}
        return write_stage_trees(writer, whole_stage, self.base, edits)

    def finish(self, deletions: list[bytes], tree: ObjectId) -> None:
        """Write the rest of the stage and its tree id (after the writer is closed)."""
        if self.buffer:
            self._count()
        self.changed = max(self.changed, len(self.buffer) + len(deletions))
        self.state.update_stage(put=self.buffer.items(), delete=deletions, tree=tree)
        self.buffer = {}


class _Storer:
    """Stores what the scan finds: on threads for a few files, in worker processes (from
    PROCESS_MIN_FILES on) as the scan goes on."""

    def __init__(
        self,
        repo: Repository,
        writer: ObjectWriter,
        cache: dict[bytes, StageEntry],
        stage: _StageBatches,
        desc: str,
    ) -> None:
        self.repo = repo
        self.writer = writer
        self.cache = cache
        self.stage = stage
        self.desc = desc
        self.pending: list[tuple[bytes, FileStat]] = []
        self.suspects = 0
        self.bytes_stored = 0
        self.workers: StoreWorkers | None = None
        self._progress: Any = None
        self._tick: Callable[[int], None] = lambda _n: None

    def take(
        self, suspects: list[tuple[bytes, FileStat]], untracked: list[tuple[bytes, FileStat]]
    ) -> None:
        """The scan's sink: queue what it found; hand full batches to the workers."""
        self.suspects += len(suspects)
        self.pending += suspects
        self.pending += untracked
        if self.workers is None:
            if len(self.pending) < PROCESS_MIN_FILES or WORKERS < 2:
                return
            # the total is not known yet: no progress bar (it counts bytes up to a total)
            self._open_progress(0)
            self.workers = StoreWorkers(
                self.repo, WORKERS, lambda done: self.stage.add(done, durable=True), self._tick
            )
        while len(self.pending) >= TASK_FILES:
            self.workers.submit(self.pending[:TASK_FILES], self.cache)
            del self.pending[:TASK_FILES]

    def finish(self) -> None:
        """Store what is left and wait for every worker's last report."""
        if self.workers is not None:
            if self.pending:
                self.workers.submit(self.pending, self.cache)
                self.pending = []
            self.bytes_stored = self.workers.finish()
            return
        todo, self.pending = self.pending, []
        self._open_progress(sum(st.size for _, st in todo))
        root = os.fsencode(self.repo.root)
        writer, cache, tick = self.writer, self.cache, self._tick
        staged = self.repo.state.stage_get_many(p for p, st in todo if st.size > CHUNK_THRESHOLD)
        previous = {path: entry.id for path, entry in staged.items()}

        def run(batch: list[tuple[bytes, FileStat]]) -> list[tuple[bytes, StageEntry]]:
            done = [
                (p, store_path(root, writer, p, st, cache.get(p), previous.get(p)))
                for p, st in batch
            ]
            tick(sum(st.size for _, st in batch))
            return done

        with ThreadPoolExecutor(WORKERS) as pool:
            for batch_done in pool.map(run, _batches(todo)):
                self.stage.add(batch_done, durable=False)  # in packs not sealed yet

    def _open_progress(self, total: int) -> None:
        self._progress = self.repo.progress(self.desc, total)
        self._tick = self._progress.__enter__()

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
            self._progress = None


def _batches(todo: list[tuple[bytes, FileStat]]) -> Iterator[list[tuple[bytes, FileStat]]]:
    """Split ``todo`` into tasks of at most BATCH files or about BATCH_BYTES: two large
    files go to two threads, each cutting its own while the chunk pool serves both."""
    batch: list[tuple[bytes, FileStat]] = []
    size = 0
    for item in todo:
        batch.append(item)
        size += item[1].size
        if len(batch) >= BATCH or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _is_data(full: bytes) -> bool:
    """True for what a scan records: a file, a symlink or a directory."""
    try:
        mode = os.lstat(full).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    return S_ISDIR(mode) or S_ISREG(mode) or S_ISLNK(mode)


def write_stage_trees(
    writer: ObjectWriter,
    stage: Callable[[], Iterable[tuple[bytes, Leaf]]],
    base: ObjectId | None = None,
    edits: Mapping[bytes, Leaf | None] | None = None,
) -> ObjectId:
    """Store the Merkle tree of the stage (only trees not stored yet) and return its root.

    Given ``base``, the tree of the stage before ``edits`` (path -> new entry, or None
    for a removed path) were applied to it, only the directories and shards on the way to
    an edit are rebuilt (trees.update_tree); otherwise, or if ``base`` cannot be read,
    every tree is built from the whole stage: ``stage()``, called only then, yields its
    (path, entry) pairs in byte order, and each tree is stored as it is made."""

    def put(oid: ObjectId, body: bytes) -> None:
        if not writer.has(oid):
            writer.put_raw(ObjectType.TREE, body)

    # empty directories point at the empty tree: store it like any other referenced object
    put(EMPTY_TREE, EMPTY_TREE_BODY)
    if base is not None and edits is not None:
        try:
            root, trees = update_tree(writer.store, base, edits)
        except (MissingObject, CorruptObject, CorruptPack):
            pass  # a damaged or collected stage tree: start from the stage itself
        else:
            for oid, body in trees:
                put(oid, body)
            return root
    return build_from_sorted(stage(), put)
