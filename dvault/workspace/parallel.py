"""Store many files on all cores, in worker processes.

Each worker takes a byte-balanced share of the files, opens the object index read-only
(to skip content that is already stored), writes and seals packs of its own, and sends
back the stage entries and the sealed packs. The parent, which holds the writer lock,
indexes those packs. A worker never writes the index or the stage, so the durability
order is unchanged: sealed packs → index → stage.

Workers are spawned, not forked: an LMDB environment must not cross a fork.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvault.errors import DvaultError, StorageError
from dvault.workspace.state import FileStat, StageEntry

if TYPE_CHECKING:
    from dvault.repo import Repo

PROGRESS_BYTES = 16 << 20
FILE_COST = 64 << 10
"""Bytes-equivalent cost of one file, for balancing shares (per-file overhead dominates
small files)."""


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
        conn.send(("done", done, writer.sealed, writer.bytes_written))
    except DvaultError as exc:
        conn.send(("error", str(exc)))
    except Exception as exc:  # report, never hang the parent waiting for "done"
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def store_in_processes(
    repo: Repo,
    todo: list[tuple[bytes, FileStat]],
    cache: dict[bytes, StageEntry],
    tick: Callable[[int], None],
) -> tuple[dict[bytes, StageEntry], int]:
    """Store ``todo`` in worker processes; returns the new stage entries and bytes stored."""
    from dvault.workspace.status import WORKERS

    store = repo.store  # opening it creates the index that workers open read-only
    ctx = multiprocessing.get_context("spawn")
    running: dict[Connection, Any] = {}
    for share in _shares(todo, WORKERS):
        receive, send = ctx.Pipe(duplex=False)
        items = [(p, tuple(st)) for p, st in share]
        shared_cache = {p: tuple(cache[p]) for p, _ in share if p in cache}
        process = ctx.Process(
            target=_worker,
            args=(str(repo.root), str(repo.dir), items, shared_cache, send),
            daemon=True,
        )
        process.start()
        send.close()
        running[receive] = process

    entries: dict[bytes, StageEntry] = {}
    sealed: list[tuple[str, Any]] = []
    stored = 0
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
                elif message[0] == "done":
                    entries.update((p, StageEntry(*e)) for p, e in message[1])
                    sealed.extend(message[2])
                    stored += message[3]
                    running.pop(conn).join()
                else:
                    error = error or message[1]
                    running.pop(conn).join()
    finally:
        for process in running.values():
            process.terminate()
    # Packs sealed by workers are complete even when another worker failed: index them
    # so their objects are known (they are not referenced until the stage is written).
    for name, pack_entries in sealed:
        store.index.add_pack(name, pack_entries)
    if error is not None:
        raise StorageError(error)
    return entries, stored
