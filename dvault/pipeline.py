"""An ordered, bounded ``map`` over a thread pool: how one large file uses every core.

A file is cut into chunks on one thread (the cut points depend on every byte before
them), while a pool hashes (and, when storing, compresses) the chunks ahead of it.
blake3 and zstd release the GIL, so the pool's threads run at once.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

A = TypeVar("A")
B = TypeVar("B")


def ordered_map(
    pool: Executor, fn: Callable[[A], B], items: Iterable[A], window: int
) -> Iterator[B]:
    """``map(fn, items)`` run on ``pool``, results in input order, at most ``window`` items
    in flight (``items`` is consumed only as fast as results are taken, so memory stays
    bounded). If the caller stops early or ``items`` raises, queued calls are cancelled
    and running ones awaited before the exception goes on: no work outlives the call."""
    pending: deque[Future[B]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        for future in pending:
            if not future.cancelled():
                with contextlib.suppress(BaseException):
                    future.result()
