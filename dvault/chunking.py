"""Content-defined chunking of large files (FastCDC 2020, via the pyfastcdc library).

Cut points depend on the bytes around them, not on offsets, so rewriting part of a
checkpoint changes only the chunks that cover the rewritten bytes: a fine-tune that
touches 10% of a file stores roughly 10% again. pyfastcdc is a maintained Cython
implementation that runs at several GB/s; hand-writing a gear hash in Python would not.

The parameters are part of the repository format: changing them changes how new files
are cut (old objects stay valid, but dedup against them is lost).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any, BinaryIO

from dvault.hashing import ObjectId

Data = bytes | memoryview
"""A chunk: a read-only view of the block it was read in (see :func:`iter_chunks`)."""

ChunkHasher = Callable[[Iterator[Data]], Iterator[tuple[Data, ObjectId]]]
"""Turns a file's chunks into (chunk, id) pairs, lazily and in the same order (the
serial one and the pooled one are in :mod:`dvault.content`)."""

CHUNK_THRESHOLD = 1 << 20
"""Files larger than this are chunked; smaller files are a single blob."""

MIN_SIZE = 64 << 10
AVG_SIZE = 256 << 10
MAX_SIZE = 1 << 20


def make_chunker() -> Any:
    """A FastCDC chunker with dvault's parameters (pyfastcdc's ``FastCDC``)."""
    from pyfastcdc import FastCDC  # deferred: a C extension, only large files are cut

    return FastCDC(AVG_SIZE, min_size=MIN_SIZE, max_size=MAX_SIZE, normalized_chunking=1)


READ_BLOCK = 8 << 20
"""Bytes read at once by :func:`iter_chunks`; chunks are views into these blocks."""


def iter_chunks(stream: BinaryIO, block_size: int = READ_BLOCK) -> Iterator[memoryview]:
    """Yield the chunks of ``stream``, streaming, cut exactly as :func:`chunk_bytes` cuts.

    Each block of the file is read into a new ``bytes`` and its chunks are read-only
    views of it, so a chunk stays valid while later ones are read (a pool hashes and
    compresses chunks ahead) and no chunk is copied: only the unfinished end of a block,
    under MAX_SIZE, is joined with the start of the next. (pyfastcdc's own stream
    chunker reuses one buffer, so every chunk had to be copied out, and it shifts the
    buffer's tail on every refill: on large files those copies cost more than the cut.)
    Memory: one block plus the chunks still referenced.
    """
    if block_size < 2 * MAX_SIZE:
        raise ValueError(f"block size must be at least {2 * MAX_SIZE}")
    chunker = make_chunker()
    pending = b""  # the end of the previous block, not cut yet (shorter than MAX_SIZE)
    while True:
        block = _read_full(stream, block_size)
        final = len(block) < block_size
        skip = 0
        if pending:
            # finish the chunks that start in ``pending``: each ends within MAX_SIZE
            joined = b"".join((pending, memoryview(block)[:MAX_SIZE]))
            if final and len(block) <= MAX_SIZE:  # ``joined`` is the rest of the file
                yield from _cut(chunker, memoryview(joined), True, len(joined))
                return
            done = yield from _cut(chunker, memoryview(joined), False, len(pending))
            skip = done - len(pending)
        view = memoryview(block)[skip:]
        done = yield from _cut(chunker, view, final, len(view))
        if final:
            return
        pending = bytes(view[done:])


def _cut(
    chunker: Any, view: memoryview, final: bool, start_limit: int
) -> Generator[memoryview, None, int]:
    """Yield the chunks of ``view`` whose cut point is certain, stopping before the first
    that starts at ``start_limit`` or later; returns where cutting stopped. A cut is
    certain when MAX_SIZE bytes follow the chunk's start (it is found within them), or
    when ``view`` ends the file."""
    done = 0
    for chunk in chunker.cut_buf(view):
        if done >= start_limit or (not final and len(view) - done < MAX_SIZE):
            break
        yield chunk.data
        done += chunk.length
    return done


def _read_full(stream: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes, fewer only at the end of the stream."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size and (more := stream.read(size - got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def chunk_bytes(data: bytes) -> list[bytes]:
    """Chunk an in-memory buffer exactly as :func:`iter_chunks` would chunk a stream."""
    return [bytes(c.data) for c in make_chunker().cut_buf(data)]
