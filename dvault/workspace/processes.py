"""Worker processes for the workspace's bulk jobs (scan, store, checkout writes).

The machinery every such job shares, and nothing of the jobs themselves: a job's entry
point lives with the job (``scan._scan_worker``, ``parallel._store_worker``), so this
module imports no other workspace module and each job module can import it without a
cycle. Workers are spawned, not forked (an LMDB environment must not cross a fork), die
with the parent, report progress and a first error, and never leave the parent waiting.

``multiprocessing`` costs ~7 ms to import: a scan imports this module only when it
actually splits the walk over processes, so ``dvault status`` on a small tree never pays it.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

PROGRESS_BYTES = 16 << 20
"""A worker reports progress every this many bytes it has stored or written."""


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the parent dies (Linux PR_SET_PDEATHSIG):
    after ``kill -9`` of dvault no worker goes on writing packs behind the next command."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _guarded(target: Callable[..., None], parent: int, *args: Any) -> None:
    _die_with_parent(parent)
    target(*args)


def run_workers(
    target: Callable[..., None], payloads: list[tuple[Any, ...]], tick: Callable[[int], None]
) -> tuple[list[tuple[Any, ...]], str | None]:
    """Spawn one process per payload running ``target(*payload, conn)``; relay progress;
    return every worker's "done" message and the first error, if any."""
    return collect(start(target, payloads), tick)


def start(
    target: Callable[..., None], payloads: list[tuple[Any, ...]], duplex: bool = False
) -> dict[Connection, BaseProcess]:
    """One spawned process per payload, each given the far end of a pipe (both ways when
    ``duplex``); returns the near ends."""
    ctx = multiprocessing.get_context("spawn")
    running: dict[Connection, BaseProcess] = {}
    for payload in payloads:
        receive, send = ctx.Pipe(duplex=duplex)
        process = ctx.Process(
            target=_guarded, args=(target, os.getpid(), *payload, send), daemon=True
        )
        process.start()
        send.close()
        running[receive] = process
    return running


def collect(
    running: dict[Connection, BaseProcess], tick: Callable[[int], None]
) -> tuple[list[tuple[Any, ...]], str | None]:
    """Wait for every worker: relay its ``("progress", n)`` messages to ``tick``, keep its
    ``("done", ...)`` message, and the first ``("error", message)`` or early exit."""
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


def shared_counter() -> Any:
    """A counter in shared memory, for :func:`claimer` (pass it to the workers)."""
    return multiprocessing.get_context("spawn").Value("q", 0)


def claimer(counter: Any) -> Callable[[], int]:
    """Claim the next unit index from a counter in shared memory."""

    def claim() -> int:
        with counter.get_lock():
            index = int(counter.value)
            counter.value = index + 1
        return index

    return claim


__all__ = [
    "PROGRESS_BYTES",
    "claimer",
    "collect",
    "run_workers",
    "shared_counter",
    "start",
]
