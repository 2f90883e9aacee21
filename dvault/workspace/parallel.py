"""Store many files on all cores, in worker processes.

Each worker takes a byte-balanced share of the files, opens the object index read-only
(to skip content that is already stored), writes and seals packs of its own, and sends
back the stage entries and the sealed packs. The parent, which holds the writer lock,
indexes those packs. A worker never writes the index or the stage, so the durability
order is unchanged: sealed packs → index → stage.

Workers are spawned, not forked: an LMDB environment must not cross a fork.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from dvault.errors import DvaultError, StorageError
from dvault.objects import TreeEntry
from dvault.store.pack import PackEntry
from dvault.workspace.state import FileStat, StageEntry

if TYPE_CHECKING:
    from dvault.repo import Repo

PROGRESS_BYTES = 16 << 20
FILE_COST = 64 << 10
"""Bytes-equivalent cost of one file, for balancing shares (per-file overhead dominates
small files)."""


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


def _shares(todo: list[tuple[bytes, FileStat]], workers: int) -> list[list[tuple[bytes, FileStat]]]:
    """Split ``todo`` into contiguous shares of about equal cost (contiguous keeps each
    directory's files together in one worker's packs)."""
    costs = [st.size + FILE_COST for _, st in todo]
    target = sum(costs) / workers
    shares: list[list[tuple[bytes, FileStat]]] = [[]]
    acc = 0.0
    for item, cost in zip(todo, costs, strict=True):
        if acc >= target * len(shares) and len(shares) < workers:
            shares.append([])
        shares[-1].append(item)
        acc += cost
    return [s for s in shares if s]


def _worker(
    project: str,
    dvault_dir: str,
    items: list[tuple[bytes, tuple[int, ...]]],
    cache: dict[bytes, tuple[Any, ...]],
    conn: Connection,
) -> None:
    """Entry point of a worker process: store ``items``, report entries and sealed packs."""
    from dvault.store.objectstore import ObjectStore
    from dvault.workspace.staging import store_path

    try:
        store = ObjectStore(Path(dvault_dir), readonly=True)
        writer = store.writer(index_packs=False)
        root = os.fsencode(project)
        done = []
        unreported = 0
        try:
            for path, raw_stat in items:
                st = FileStat(*raw_stat)
                cached = cache.get(path)
                entry = store_path(root, writer, path, st, StageEntry(*cached) if cached else None)
                done.append((path, tuple(entry)))
                unreported += st.size
                if unreported >= PROGRESS_BYTES:
                    conn.send(("progress", unreported))
                    unreported = 0
            writer.flush()
        except BaseException:
            writer.abort()
            raise
        conn.send(("progress", unreported))
        # plain tuples: unpickling a million slotted dataclasses took seconds in the parent
        sealed = [(name, [_located(e) for e in entries]) for name, entries in writer.sealed]
        conn.send(("done", done, sealed, writer.bytes_written))
    except DvaultError as exc:
        conn.send(("error", str(exc)))
    except Exception as exc:  # report, never hang the parent waiting for "done"
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the parent dies (Linux PR_SET_PDEATHSIG):
    after ``kill -9`` of dvault no worker goes on writing packs behind the next command."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _guarded(target: Callable[..., None], parent: int, *args: Any) -> None:
    _die_with_parent(parent)
    target(*args)


def _run_workers(
    target: Callable[..., None], payloads: list[tuple[Any, ...]], tick: Callable[[int], None]
) -> tuple[list[tuple[Any, ...]], str | None]:
    """Spawn one process per payload running ``target(*payload, conn)``; relay progress;
    return every worker's "done" message and the first error, if any."""
    return _collect(_start(target, payloads), tick)


def _start(target: Callable[..., None], payloads: list[tuple[Any, ...]]) -> dict[Connection, Any]:
    ctx = multiprocessing.get_context("spawn")
    running: dict[Connection, Any] = {}
    for payload in payloads:
        receive, send = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_guarded, args=(target, os.getpid(), *payload, send), daemon=True
        )
        process.start()
        send.close()
        running[receive] = process
    return running


def _collect(
    running: dict[Connection, Any], tick: Callable[[int], None]
) -> tuple[list[tuple[Any, ...]], str | None]:
    results: list[tuple[Any, ...]] = []
    error: str | None = None
    try:
        while running:
            for conn in wait(list(running)):
                assert isinstance(conn, Connection)
                try:
                    message = conn.recv()
                except EOFError:
                    running.pop(conn).join()
                    error = error or "a worker process exited without reporting"
                    continue
                if message[0] == "progress":
                    tick(message[1])
                    continue
                running.pop(conn).join()
                if message[0] == "done":
                    results.append(message)
                else:
                    error = error or message[1]
    finally:
        for process in running.values():
            process.terminate()
    return results, error


def _scan_worker(project: str, state_dir: str, units: list[bytes], conn: Connection) -> None:
    """Entry point of a scan worker: compare ``units`` with the stage, read-only."""
    import lmdb

    from dvault.workspace.scan import load_ignore, scan_units

    try:
        env = lmdb.open(state_dir, readonly=True, max_dbs=4, readahead=False)
        try:
            db = env.open_db(b"stage", create=False)
            with env.begin(db=db) as txn:
                result = scan_units(Path(project), txn, units, load_ignore(Path(project)))
        finally:
            env.close()
        conn.send(("done", *result))
    except Exception as exc:  # report, never hang the parent waiting for "done"
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def start_scan(
    project: Path, state_dir: Path, shares: list[list[bytes]]
) -> Callable[[], list[tuple[Any, Any, Any, int]]]:
    """Start one scan worker per share; the returned function waits for their results
    (suspects, untracked, deleted, compared), so the caller can walk its own share meanwhile."""
    running = _start(_scan_worker, [(str(project), str(state_dir), share) for share in shares])

    def results() -> list[tuple[Any, Any, Any, int]]:
        done, error = _collect(running, lambda _: None)
        if error is not None:
            raise StorageError(f"workspace scan failed: {error}")
        return [(m[1], m[2], m[3], m[4]) for m in done]

    return results


def store_in_processes(
    repo: Repo,
    todo: list[tuple[bytes, FileStat]],
    cache: dict[bytes, StageEntry],
    tick: Callable[[int], None],
) -> tuple[dict[bytes, StageEntry], int]:
    """Store ``todo`` in worker processes; returns the new stage entries and bytes stored."""
    from dvault.workspace.status import WORKERS

    store = repo.store  # opening it creates the index that workers open read-only
    payloads = []
    for share in _shares(todo, WORKERS):
        shared_cache = {p: tuple(cache[p]) for p, _ in share if p in cache}
        payloads.append((str(repo.root), str(repo.dir), share, shared_cache))
    results, error = _run_workers(_worker, payloads, tick)
    del payloads
    entries: dict[bytes, StageEntry] = {}
    stored = 0
    new = tuple.__new__
    while results:  # each worker's report is dropped once used: at 1M files they are large
        _, done, sealed, written = results.pop()
        entries.update((p, new(StageEntry, e)) for p, e in done)
        stored += written
        # Packs sealed by workers are complete even when another worker failed: index
        # them so their objects are known (nothing refers to them until the stage does).
        for name, pack_entries in sealed:
            located = [new(Located, e) for e in pack_entries]
            store.index.add_pack(name, cast(list[PackEntry], located))  # same fields
    if error is not None:
        raise StorageError(error)
    return entries, stored


def _checkout_worker(
    dvault_dir: str, items: list[tuple[int, bytes, tuple[Any, ...]]], conn: Connection
) -> None:
    """Entry point of a checkout worker: write each item's content to a temp file beside
    its target and report (index, temp name) pairs; the parent syncs and renames."""
    from dvault.objects import TreeEntry
    from dvault.store.index import RELEASE_EVERY
    from dvault.store.objectstore import ObjectStore
    from dvault.workspace.checkout import write_temp

    written: list[tuple[int, bytes]] = []
    try:
        store = ObjectStore(Path(dvault_dir), readonly=True)
        unreported = 0
        for index, full, fields in items:
            store.index.release(RELEASE_EVERY)  # resident memory: see ObjectIndex.release
            entry = TreeEntry(*fields)
            written.append((index, write_temp(store, full, entry)))
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
    repo: Repo, items: list[tuple[bytes, TreeEntry]], tick: Callable[[int], None]
) -> list[bytes]:
    """Checkout's file writes on all cores: (target, entry) pairs -> temp paths, in order.

    Creating 20k files is system calls around GIL-held Python: threads serialise on the
    GIL, processes do not. On failure every temp file written is removed.
    """
    from dvault.workspace.status import WORKERS

    repo.store  # noqa: B018 - the index must exist before workers open it read-only
    numbered = [(i, full, (e.name, e.mode, e.size, e.id)) for i, (full, e) in enumerate(items)]
    size = -(-len(numbered) // WORKERS)
    payloads = [(str(repo.dir), numbered[i : i + size]) for i in range(0, len(numbered), size)]
    results, error = _run_workers(_checkout_worker, payloads, tick)
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
