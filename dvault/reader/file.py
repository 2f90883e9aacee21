"""The file object :func:`dvault.open` returns: one file of one version, streamed.

:class:`VersionFile` reads the file chunk by chunk: each piece is hash-verified by the
source (:meth:`ObjectStore.get_raw`, :meth:`Remote.read_object`) before a byte is handed
out, and a seek only fetches the chunk it lands in (found from the chunk list's sizes),
so a 100 GB checkpoint is never loaded whole.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from dvault.errors import CorruptObject, DvaultError, ObjectErased, ReadOnly
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import ChunkList
from dvault.reader.source import Objects

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

READAHEAD = 8 << 20
"""Reading a remote file sequentially, fetch up to this many bytes of the next chunks in
one range request (chunks of one file sit next to each other in a pack): a request per
256 KiB chunk would make the network's latency, not its bandwidth, the limit."""


@runtime_checkable
class ReadsMany(Protocol):
    """Objects that fetch several at once (a remote: adjacent chunks in one range read)."""

    def read_many(
        self, oids: list[ObjectId]
    ) -> dict[ObjectId, tuple[ObjectType, bytes] | DvaultError]: ...


class VersionFile(io.BufferedIOBase):
    """One file of one version: ``read``, ``seek``, ``tell``, a context manager.

    Holds at most one chunk (≤ 1 MiB) at a time. A chunk is fetched when a read first
    needs it, from the local store or with one range read from a remote, and verified
    against its id before any of its bytes are returned: damaged or tampered data raises a
    :class:`~dvault.DvaultError`, it is never returned.
    """

    def __init__(
        self,
        objects: Objects,
        oid: ObjectId,
        size: int,
        name: str,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.mode = "rb"
        self.id = oid.hex()
        """The content's object id (hex)."""
        self._objects = objects
        self._on_close = on_close
        try:
            self._chunks: tuple[tuple[ObjectId, int], ...] = self._list(objects, oid, size, name)
        except ObjectErased as exc:
            raise exc.for_path(name) from None
        chunks = self._chunks
        starts = [0]
        for _, length in chunks:
            starts.append(starts[-1] + length)
        if starts[-1] != size:
            raise CorruptObject(
                f"{name}: content {oid.hex()} holds {starts[-1]} bytes, its tree says {size}"
            )
        self._starts = starts
        self.size = size
        """The file's length in bytes."""
        self._pos = 0
        self._current: tuple[int, bytes] | None = None
        self._ahead: dict[int, bytes] = {}  # chunks read ahead (remote, sequential reads)
        self._many: ReadsMany | None = objects if isinstance(objects, ReadsMany) else None

    @staticmethod
    def _list(
        objects: Objects, oid: ObjectId, size: int, name: str
    ) -> tuple[tuple[ObjectId, int], ...]:
        """The file's chunks and their lengths (a blob is one chunk)."""
        kind = objects.type_of(oid)
        if kind == ObjectType.CHUNKS:
            chunk_list = ChunkList.decode(objects.get_raw(oid)[1])
            chunks = chunk_list.chunks
        elif kind == ObjectType.BLOB:
            chunks = ((oid, size),)  # the length is checked when the blob is read
        else:
            kind, raw = objects.get_raw(oid)  # raises for a missing object
            if kind == ObjectType.CHUNKS:
                chunks = ChunkList.decode(raw).chunks
            elif kind == ObjectType.BLOB:
                chunks = ((oid, len(raw)),)
            else:
                raise CorruptObject(f"object {oid.hex()} of {name} is a {kind.name.lower()}")
        return chunks

    def __repr__(self) -> str:
        return f"<dvault.VersionFile {self.name!r} size={self.size}>"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def _check(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _chunk(self, i: int) -> bytes:
        try:
            return self._chunk_at(i)
        except ObjectErased as exc:  # a chunk erased by dvault redact: name the file
            raise exc.for_path(self.name) from None

    def _chunk_at(self, i: int) -> bytes:
        current = self._current
        if current is not None and current[0] == i:
            return current[1]
        data = self._ahead.pop(i, None)
        if data is None:
            sequential = i == (current[0] + 1 if current is not None else 0)
            if self._many is not None and sequential:
                data = self._read_ahead(i)
            else:
                self._ahead.clear()  # a seek elsewhere: what was read ahead is not wanted
                cid, length = self._chunks[i]
                data = self._checked(cid, length, *self._objects.get_raw(cid))
        self._current = (i, data)
        return data

    def _checked(self, cid: bytes, length: int, kind: ObjectType, data: bytes) -> bytes:
        """A chunk's bytes (already verified against ``cid`` by the store or remote),
        checked to be what the chunk list says: a blob of the listed length."""
        if kind != ObjectType.BLOB or len(data) != length:
            raise CorruptObject(f"chunk {cid.hex()} of {self.name} does not match its list")
        return data

    def _read_ahead(self, i: int) -> bytes:
        """Chunk ``i`` and the following ones, up to READAHEAD bytes, in few requests."""
        assert self._many is not None
        last, total = i, 0
        while last < len(self._chunks) and (
            last == i or total + self._chunks[last][1] <= READAHEAD
        ):
            total += self._chunks[last][1]
            last += 1
        wanted: dict[ObjectId, list[int]] = {}
        for j in range(i, last):
            wanted.setdefault(self._chunks[j][0], []).append(j)
        found = self._many.read_many(list(wanted))
        self._ahead.clear()
        first = b""
        for cid, indexes in wanted.items():
            got = found.get(cid)
            if not isinstance(got, tuple):
                if i not in indexes:
                    continue  # absent or damaged: raised if and when it is read
                if got is not None:
                    raise got
                got = self._objects.get_raw(cid)  # absent: get_raw raises its precise error
            for j in indexes:
                data = self._checked(cid, self._chunks[j][1], *got)
                if j == i:
                    first = data
                else:
                    self._ahead[j] = data
        return first

    def _piece(self, limit: int) -> bytes:
        """Up to ``limit`` bytes at the position, from the one chunk it falls in."""
        i = bisect.bisect_right(self._starts, self._pos) - 1
        data = self._chunk(i)
        offset = self._pos - self._starts[i]
        piece = data[offset : offset + limit]
        self._pos += len(piece)
        return piece

    def read(self, size: int | None = -1) -> bytes:
        self._check()
        remaining = max(0, self.size - self._pos)
        want = remaining if size is None or size < 0 else min(size, remaining)
        if want == 0:
            return b""
        first = self._piece(want)
        if len(first) == want:
            return first
        parts = [first]
        want -= len(first)
        while want > 0:
            piece = self._piece(want)
            parts.append(piece)
            want -= len(piece)
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        """At most ``size`` bytes, from one chunk only (no more than one fetch)."""
        self._check()
        remaining = max(0, self.size - self._pos)
        want = remaining if size is None or size < 0 else min(size, remaining)
        return self._piece(want) if want else b""

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readinto1(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read1(len(view))
        view[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check()
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self.size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._pos = target
        return target

    def tell(self) -> int:
        self._check()
        return self._pos

    def write(self, data: ReadableBuffer) -> int:
        raise ReadOnly(f"{self.name}: versions are read-only")

    def close(self) -> None:
        if not self.closed:
            self._current = None
            self._ahead.clear()
            super().close()
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()
