"""Store many files, and write many checked-out files, on all cores, in worker processes.

Store workers take batches of files as the parent's scan finds them, open the object
index read-only (to skip content that is already stored), write and seal packs of their
own, and send back, batch by batch, the sealed packs and the stage entries of the files
in them. The parent, which holds the writer lock, indexes those packs before it stages
the files. A worker never writes the index or the stage, so the durability order is
unchanged: sealed packs → index → stage.

Checkout workers each write a share of the files to temporary names beside their targets
and report them; the parent syncs and renames them (workspace/checkout.py).

The per-file work is :mod:`dvault.workspace.fileio`'s, the process machinery (spawned,
not forked: an LMDB environment must not cross a fork) :mod:`dvault.workspace.processes`'s.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, NamedTuple, cast

from dvault.errors import DvaultError, StorageError
from dvault.repository import Repository
from dvault.store.objectstore import ObjectStore
from dvault.store.pack import PackEntry
from dvault.store.state import FileStat, StageEntry
from dvault.treeobjects import TreeEntry
from dvault.workspace.fileio import reader_pool, store_path, write_temp
from dvault.workspace.processes import PROGRESS_BYTES, run_workers, start


class Located(NamedTuple):
    """A :class:`PackEntry` as a worker sends it: the same fields, in a plain tuple."""

    id: bytes
    type: int
    compression: int
    offset: int
    stored_len: int
    raw_len: int


def _located(e: PackEntry) -> tuple[bytes, int, int, int, int, int]:
    return (e.id, int(e.type), e.compression, e.offset, e.stored_len, e.raw_len)


def _store_worker(project: str, dvault_dir: str, report_files: int, conn: Connection) -> None:
    """Entry point of a store worker: ask for batches of files, store them, and every
    ``report_files`` files seal the packs and report them with the files' stage entries.

    Reporting in batches keeps both sides' memory flat however many files there are;
    packs are sealed (fsynced) before they are reported, so the parent may index them and
    then stage their files at once.
    """
    try:
        store = ObjectStore(Path(dvault_dir), readonly=True)
        writer = store.writer(index_packs=False)
        root = os.fsencode(project)
        done: list[tuple[bytes, tuple[Any, ...]]] = []
        unreported = 0

        def report() -> None:
            writer.flush()
            # plain tuples: unpickling a million slotted dataclasses took seconds
            sealed = [(name, [_located(e) for e in es]) for name, es in writer.take_sealed()]
            conn.send(("stored", done, sealed))
            done.clear()

        try:
            conn.send(("ready",))
            while (task := conn.recv()) is not None:
                items, cache = task
                for path, st in items:
                    cached = cache.get(path)
                    entry = store_path(
                        root, writer, path, st, StageEntry(*cached) if cached else None
                    )
                    done.append((path, tuple(entry)))
                    unreported += st.size
                    if unreported >= PROGRESS_BYTES:
                        conn.send(("progress", unreported))
                        unreported = 0
                if len(done) >= report_files:
                    report()
                conn.send(("ready",))
            report()
        except BaseException:
            writer.abort()
            raise
        conn.send(("progress", unreported))
        conn.send(("done", writer.bytes_written))
    except DvaultError as exc:
        conn.send(("error", str(exc)))
    except Exception as exc:  # report, never hang the parent waiting for "done"
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


REPORT_FILES = 20_000
"""A store worker seals its packs and reports every this many files (about 6 MB of its
own bookkeeping at most; each report becomes one pack of tiny files)."""


class StoreWorkers:
    """Worker processes that store files while the parent is still finding them.

    The parent hands out batches (:meth:`submit`), one at a time to a worker that asked
    for one, so neither side queues more than a batch; each worker reports sealed packs
    with the stage entries of the files in them, which a thread of the parent indexes and
    passes to ``apply`` (durability order: sealed packs → index → stage). Indexing a
    report takes a second or more at 1M objects; on its own thread it does not keep the
    workers waiting for their next batch. A worker never writes the index or the stage.
    """

    def __init__(
        self,
        repo: Repository,
        workers: int,
        apply: Callable[[list[tuple[bytes, StageEntry]]], None],
        tick: Callable[[int], None],
    ) -> None:
        self.index = repo.store.index  # opening the store creates the index workers read
        self.apply = apply
        self.tick = tick
        self.bytes_stored = 0
        self.error: str | None = None
        payload = (str(repo.root), str(repo.dir), REPORT_FILES)
        self._running = start(_store_worker, [payload] * workers, duplex=True)
        self._ready: list[Connection] = []
        self._reports: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._applier = threading.Thread(target=self._apply_reports, name="dvault-stage")
        self._applier.start()
        self._apply_error: BaseException | None = None

    def _apply_reports(self) -> None:
        """The applier thread: index each report's packs, then stage its files."""
        new = tuple.__new__
        while (message := self._reports.get()) is not None:
            if self._apply_error is not None:
                continue  # drain: after a failure nothing more is applied
            try:
                # Packs sealed by workers are complete even when another worker failed:
                # index them so their objects are known (nothing refers to them yet).
                for name, pack_entries in message[2]:
                    located = [new(Located, e) for e in pack_entries]
                    self.index.add_pack(name, cast(list[PackEntry], located))  # same fields
                self.index.release_pages()
                if self.error is None:
                    self.apply([(p, new(StageEntry, e)) for p, e in message[1]])
            except BaseException as exc:  # raised by the main thread (finish)
                self._apply_error = exc

    def _check(self) -> None:
        if self._apply_error is not None:
            raise self._apply_error
        if self.error is not None:
            raise StorageError(self.error)

    def submit(self, items: list[tuple[bytes, FileStat]], cache: dict[bytes, Any]) -> None:
        """Give ``items`` (and the hash-cache entries of their paths) to the next free
        worker, handling reports while waiting for one."""
        while not self._ready and self._running and self.error is None:
            self._receive(wait(list(self._running)))
        self._check()
        if not self._ready:
            raise StorageError("the store workers exited early")
        self._ready.pop().send((items, {p: tuple(cache[p]) for p, _ in items if p in cache}))

    def finish(self) -> int:
        """Wait for every worker to store and report its last files; returns the bytes
        they stored. Raises the first worker's error after indexing every sealed pack."""
        for conn in self._running:
            with contextlib.suppress(OSError):  # a worker that failed has hung up
                conn.send(None)
        while self._running:
            self._receive(wait(list(self._running)))
        self._stop_applier()
        self._check()
        return self.bytes_stored

    def _stop_applier(self) -> None:
        if self._applier.is_alive():
            self._reports.put(None)
            self._applier.join()

    def close(self) -> None:
        """Stop workers that are still running (after an error in the parent)."""
        for process in self._running.values():
            process.terminate()
        for process in self._running.values():
            process.join()
        self._running.clear()
        self._stop_applier()

    def _receive(self, ready: list[Any]) -> None:
        for conn in ready:
            assert isinstance(conn, Connection)
            try:
                message = conn.recv()
            except EOFError:
                self._running.pop(conn).join()
                self.error = self.error or "a worker process exited without reporting"
                continue
            kind = message[0]
            if kind == "progress":
                self.tick(message[1])
            elif kind == "ready":
                self._ready.append(conn)
            elif kind == "stored":
                self._reports.put(message)
            else:
                self._running.pop(conn).join()
                if conn in self._ready:
                    self._ready.remove(conn)
                if kind == "done":
                    self.bytes_stored += message[1]
                else:
                    self.error = self.error or message[1]


def _checkout_worker(
    dvault_dir: str, items: list[tuple[int, bytes, tuple[Any, ...]]], conn: Connection
) -> None:
    """Entry point of a checkout worker: write each item's content to a temp file beside
    its target and report (index, temp name) pairs; the parent syncs and renames."""
    written: list[tuple[int, bytes]] = []
    try:
        store = ObjectStore(Path(dvault_dir), readonly=True)
        unreported = 0
        with reader_pool(TreeEntry(*fields) for _, _, fields in items) as readers:
            for index, full, fields in items:
                entry = TreeEntry(*fields)
                written.append((index, write_temp(store, full, entry, readers)))
                unreported += entry.size
                if unreported >= PROGRESS_BYTES:
                    conn.send(("progress", unreported))
                    unreported = 0
        conn.send(("progress", unreported))
        conn.send(("done", written))
    except Exception as exc:  # report, never hang the parent waiting for "done"
        for _, tmp in written:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        message = str(exc) if isinstance(exc, DvaultError) else f"{type(exc).__name__}: {exc}"
        conn.send(("error", message))
    finally:
        conn.close()


def write_in_processes(
    repo: Repository,
    items: list[tuple[bytes, TreeEntry]],
    tick: Callable[[int], None],
    workers: int,
) -> list[bytes]:
    """Checkout's file writes on all cores: (target, entry) pairs -> temp paths, in order.

    Creating 20k files is system calls around GIL-held Python: threads serialise on the
    GIL, processes do not. On failure every temp file written is removed.
    """
    repo.store  # noqa: B018 - the index must exist before workers open it read-only
    numbered = [(i, full, (e.name, e.mode, e.size, e.id)) for i, (full, e) in enumerate(items)]
    size = -(-len(numbered) // workers)
    payloads = [(str(repo.dir), numbered[i : i + size]) for i in range(0, len(numbered), size)]
    results, error = run_workers(_checkout_worker, payloads, tick)
    temps: list[bytes | None] = [None] * len(items)
    for _, written in results:
        for index, tmp in written:
            temps[index] = tmp
    if error is not None or any(t is None for t in temps):
        for tmp in temps:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        raise StorageError(error or "a checkout worker did not report its files")
    return [t for t in temps if t is not None]
