"""How a file's bytes become objects: one blob, or chunk blobs plus a chunk list.

Shared by storing (``add``) and by hashing without storing (``status``), so both always
agree on a file's id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from dvault.chunking import CHUNK_THRESHOLD, ChunkHasher, Data, iter_chunks
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import ChunkList
from dvault.pipeline import ordered_map
from dvault.rechunk import rechunk

if TYPE_CHECKING:
    from concurrent.futures import Executor


def _hash_one(data: Data) -> tuple[Data, ObjectId]:
    return data, object_id(ObjectType.BLOB, data)


def hash_each(chunks: Iterator[Data]) -> Iterator[tuple[Data, ObjectId]]:
    """The serial :data:`ChunkHasher`: hash each chunk on the calling thread."""
    return map(_hash_one, chunks)


def hash_on(pool: Executor, window: int) -> ChunkHasher:
    """A :data:`ChunkHasher` that hashes up to ``window`` chunks ahead on ``pool``, so
    hashing a large file is not bound to the thread that cuts it. Each chunk in flight
    keeps its read block (8 MiB) alive: ``window`` bounds the memory."""

    def hash_ahead(chunks: Iterator[Data]) -> Iterator[tuple[Data, ObjectId]]:
        return ordered_map(pool, _hash_one, chunks, window)

    return hash_ahead


class FileContent:
    """Iterate :meth:`objects` once; afterwards ``id`` and ``size`` describe the file."""

    def __init__(self, stream: BinaryIO, size_hint: int, previous: ChunkList | None = None) -> None:
        self.stream = stream
        self.size_hint = size_hint
        self.previous = previous
        """The file's last stored chunk list, if known: unchanged chunks are not cut again
        (see :mod:`dvault.rechunk`). Needs a real file (``fileno``)."""
        self.id = ObjectId(b"")
        self.size = 0

    def objects(
        self, hash_chunks: ChunkHasher = hash_each
    ) -> Iterator[tuple[ObjectType, Data, ObjectId]]:
        """Yield (type, body, id) of every object the content needs, the file's own last.

        ``hash_chunks`` may hash (and do more work on) chunks ahead on other threads, as
        ``ObjectWriter.put_file`` does; the objects and their order are the same. With
        ``previous``, it also sees previous chunks' ranges that turn out to have changed."""
        if self.size_hint <= CHUNK_THRESHOLD:
            # read one byte more than a blob may hold: a file that grew since it was
            # stat'ed is chunked instead (a blob is never larger than CHUNK_THRESHOLD)
            blob = self.stream.read(self.size_hint + 1)
            if len(blob) > self.size_hint:  # it grew: read on, up to the limit
                blob += self.stream.read(CHUNK_THRESHOLD + 1 - len(blob))
            if len(blob) <= CHUNK_THRESHOLD:
                self.id, self.size = object_id(ObjectType.BLOB, blob), len(blob)
                yield ObjectType.BLOB, blob, self.id
                return
            self.stream.seek(0)
        refs: list[tuple[ObjectId, int]] = []
        if self.previous is None:
            chunks = hash_chunks(iter_chunks(self.stream))
        else:
            chunks = rechunk(self.stream, self.previous, hash_chunks)
        for data, oid in chunks:
            refs.append((oid, len(data)))
            yield ObjectType.BLOB, data, oid
        if len(refs) <= 1:  # the file shrank while being read
            if not refs:
                refs.append((object_id(ObjectType.BLOB, b""), 0))
                yield ObjectType.BLOB, b"", refs[0][0]
            self.id, self.size = refs[0]
            return
        listing = ChunkList(tuple(refs))
        body = listing.encode()
        self.id, self.size = object_id(ObjectType.CHUNKS, body), listing.size
        yield ObjectType.CHUNKS, body, self.id


def hash_stream(
    stream: BinaryIO,
    size_hint: int,
    hash_chunks: ChunkHasher = hash_each,
    previous: ChunkList | None = None,
) -> tuple[ObjectId, int]:
    """The id a file would be stored under, computed without storing anything."""
    content = FileContent(stream, size_hint, previous)
    for _ in content.objects(hash_chunks):
        pass
    return content.id, content.size
