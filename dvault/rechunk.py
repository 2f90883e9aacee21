"""Re-cut a changed large file along its previous chunk list, instead of from scratch.

Cutting is the serial part of hashing a large file (FastCDC's gear hash runs on one
thread, ~0.5 s per GiB here), while blake3 runs on every core. When a 5 GiB checkpoint
changed in a few places, almost all of its previous chunks are still there, at the same
offsets. So each previous chunk's byte range is read and hashed ahead on the pool, and a
chunk whose bytes are unchanged is taken as it was, without cutting; only around a
change is the file cut anew, until a cut lands on a previous boundary again.

The result is exactly the chunk list a full cut gives (property-tested against
``chunking.chunk_bytes``): FastCDC's cut from a chunk's start depends only on the bytes
from that start up to one past the cut (it tests the byte after the chunk before it
cuts), and on ``min(bytes left in the file, MAX_SIZE)``. A previous chunk is reused only
when all of those are provably unchanged:

* its bytes hash to its recorded id;
* its cut was forced (it is MAX_SIZE long, or it ended the file), or the next previous
  chunk is unchanged too (so the byte after it is);
* ``min(bytes left, MAX_SIZE)`` from its start is the same in both versions.

Content shifted by an insertion never lands on a previous boundary; after
``RESYNC_LIMIT`` fresh cuts in a row the rest of the file is cut the usual way.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from dvault.chunking import MAX_SIZE, ChunkHasher, Data, iter_chunks, make_chunker
from dvault.errors import DvaultError
from dvault.fsutil import pread_full
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import ChunkList

RESYNC_LIMIT = 64
"""Fresh cuts in a row (about 16 MiB) after which the previous chunks are given up."""


class ChunkListSource(Protocol):
    """What :func:`previous_chunks` reads a chunk list from: the object store (declared
    here, on the format floor, so this module never imports the store above it)."""

    def type_of(self, oid: bytes) -> ObjectType | None: ...

    def get_raw(self, oid: bytes) -> tuple[ObjectType, bytes]: ...


def previous_chunks(store: ChunkListSource, oid: ObjectId | None) -> ChunkList | None:
    """The chunk list stored under ``oid``, if it is one: a hint, so any failure to read
    it (a blob, a missing or damaged object, which ``verify`` reports) means ``None``."""
    if oid is None or store.type_of(oid) != ObjectType.CHUNKS:
        return None
    try:
        _, raw = store.get_raw(oid)
        return ChunkList.decode(raw)
    except DvaultError:  # a hint only: the file is then cut from scratch
        return None


def rechunk(
    stream: BinaryIO, previous: ChunkList, hash_chunks: ChunkHasher
) -> Iterator[tuple[Data, ObjectId]]:
    """Yield (chunk, id) of every chunk of ``stream``'s file, cut exactly as
    :func:`chunking.iter_chunks` cuts it, reusing ``previous`` where it still holds.

    ``hash_chunks`` hashes the previous chunks' ranges ahead (on a pool, when it is one);
    chunks cut anew are hashed here."""
    fd = stream.fileno()
    size = os.fstat(fd).st_size
    old_size = previous.size
    starts: list[int] = []
    offset = 0
    for _, length in previous.chunks:
        starts.append(offset)
        offset += length
    # previous ranges that still lie inside the file, read and hashed in order
    inside = sum(1 for s, (_, n) in zip(starts, previous.chunks, strict=True) if s + n <= size)

    def ranges() -> Iterator[Data]:
        for j in range(inside):
            yield pread_full(fd, starts[j], previous.chunks[j][1])

    def left(total: int, start: int) -> int:
        return min(total - start, MAX_SIZE)

    def reusable(j: int, next_same: bool) -> bool:
        """Chunk ``j``'s bytes are unchanged: would a cut from its start end where it did?"""
        start, length = starts[j], previous.chunks[j][1]
        if left(old_size, start) != left(size, start):
            return False
        return length == left(old_size, start) or next_same

    hashed = hash_chunks(ranges())
    loaded: deque[tuple[Data, bool]] = deque()  # previous chunks hashed, from ``first`` on
    first = 0

    def unchanged(k: int) -> tuple[Data, bool]:
        """Previous chunk ``k``'s current bytes and whether they are unchanged; forgets
        the ones before it (``k`` never decreases)."""
        nonlocal first
        while first + len(loaded) <= k:
            data, oid = next(hashed)
            loaded.append((data, oid == previous.chunks[first + len(loaded)][0]))
        while first < k:
            loaded.popleft()
            first += 1
        return loaded[0]

    chunker = make_chunker()
    pos = fresh = 0
    try:
        while pos < size:
            j = bisect_left(starts, pos, hi=inside)
            if j < inside and starts[j] == pos:
                data, same = unchanged(j)
                next_same = j + 1 < inside and same and unchanged(j + 1)[1]
                if same and reusable(j, next_same):
                    yield data, previous.chunks[j][0]
                    pos += len(data)
                    fresh = 0
                    continue
            if fresh >= RESYNC_LIMIT:
                break
            window = pread_full(fd, pos, min(size - pos, MAX_SIZE))
            if not window:  # the file shrank while being read
                return
            cut = next(iter(chunker.cut_buf(window))).length
            chunk = memoryview(window)[:cut]
            yield chunk, object_id(ObjectType.BLOB, chunk)
            pos += cut
            fresh += 1
    finally:
        close = getattr(hashed, "close", None)  # stop hashing ahead
        if close is not None:
            close()
    if pos < size:  # content moved: cut the rest the usual way (``pos`` is a cut point)
        stream.seek(pos)
        yield from hash_chunks(iter_chunks(stream))
