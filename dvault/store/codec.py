"""How an object's bytes are stored in a pack: kept raw or compressed with zstd, the size
limits every reader checks before it allocates, and decompression bounded by them.

Split from :mod:`dvault.store.pack` (which re-exports these names): the pack module holds
the container, this one what goes in a record's stored bytes.
"""

from __future__ import annotations

import threading
from typing import Any

from dvault.errors import CorruptObject
from dvault.hashing import ObjectType

RAW = 0
ZSTD = 1

MAX_OBJECT_SIZE = 1 << 30
"""No object may be larger than this (1 GiB): the bound against decompression bombs and
oversized objects, checked on the declared size before anything is allocated. The largest
legitimate objects are trees and chunk lists: a directory of 10 million entries with names
of up to 61 bytes (47 bytes of entry header each) fits, as does the chunk list of a file
of about 7 TiB (36 bytes per 256 KiB average chunk). docs/format.md lists every limit."""

MAX_SIZE: dict[ObjectType, int] = {
    ObjectType.BLOB: 1 << 20,  # a file of at most 1 MiB, or one chunk (FastCDC max 1 MiB)
    ObjectType.CHUNKS: MAX_OBJECT_SIZE,
    ObjectType.TREE: MAX_OBJECT_SIZE,
    ObjectType.COMMIT: 64 << 20,  # canonical JSON: message and lineage metadata
    ObjectType.TAG: 64 << 20,
}
"""Per-type limits on an object's size (raw body). A blob is never larger than a chunk,
so a hostile pack cannot make a reader allocate more than 1 MiB per file piece."""
_LIMITS: dict[int, int] = {int(kind): limit for kind, limit in MAX_SIZE.items()}


class _Codec:
    """zstd contexts are not thread-safe; each thread gets its own (see :func:`_local_codec`)."""

    def __init__(self) -> None:
        import zstandard  # deferred: a C extension, loaded only when a pack is read or written

        self.compressor = zstandard.ZstdCompressor(level=1)
        self.decompressor = zstandard.ZstdDecompressor()


_per_thread = threading.local()


def _local_codec() -> _Codec:
    codec: _Codec | None = getattr(_per_thread, "codec", None)
    if codec is None:
        codec = _per_thread.codec = _Codec()
    return codec


PROBE_MIN = 16 << 10
"""From this size on, :func:`compress` first compresses a sample (:func:`_incompressible`)."""

PROBE_SLICES = 4
PROBE_SLICE = 2048
"""The sample: this many slices of this many bytes, spread evenly over the object."""


def compress(raw: bytes | memoryview) -> tuple[int, bytes | memoryview]:
    """Compress with zstd, or keep raw when that saves less than 3% (already-compressed data).

    An object of PROBE_MIN bytes or more whose sample does not shrink is kept raw without
    compressing the rest: zstd -1 spends ~35 µs on a 37 KB random image (~1 GB/s) only to
    give it back unchanged, where the 8 KB sample costs ~8 µs (measured, docs/performance.md
    "Speed, round two (issue 23): add + commit")."""
    if len(raw) < 64:
        return RAW, raw
    if len(raw) >= PROBE_MIN and _incompressible(raw):
        return RAW, raw
    packed = _local_codec().compressor.compress(raw)
    if len(packed) > len(raw) * 0.97:
        return RAW, raw
    return ZSTD, packed


def _incompressible(raw: bytes | memoryview) -> bool:
    """True when zstd -1 saves less than 1% on a sample of ``raw`` (PROBE_SLICES slices
    spread from its start to its end). Only a clear miss counts: data that saves 1-3% on
    the sample is compressed whole and judged by the 3% rule as before. What the sample
    cannot see is redundancy between distant parts of one object (a random block repeated
    within a chunk); such an object is stored raw, never wrongly. Measured on images,
    gzip files, PNGs, shared libraries, the bench's checkpoints and CSV: no object the
    whole-object rule would compress was judged incompressible (docs/performance.md)."""
    view = memoryview(raw)
    step = (len(view) - PROBE_SLICE) // (PROBE_SLICES - 1)
    sample = b"".join(view[i * step : i * step + PROBE_SLICE] for i in range(PROBE_SLICES))
    return len(_local_codec().compressor.compress(sample)) > len(sample) * 0.99


def check_size(kind: int, compression: int, stored_len: int, raw_len: int) -> None:
    """Refuse an object whose declared sizes no dvault writer produces — before reading or
    allocating anything, so a hostile pack or footer cannot make a reader allocate, download
    or decompress more than the limits. The one place these facts are validated (footers,
    record headers and writers all call it)."""
    limit = _LIMITS.get(kind)  # by int: no enum built on a path every object takes
    if limit is None:
        raise CorruptObject(f"unknown object type {kind}")
    if raw_len > limit:
        name = ObjectType(kind).name.lower()
        raise CorruptObject(f"{name} of {raw_len} bytes exceeds the {limit}-byte limit")
    if compression == RAW:
        if stored_len != raw_len:
            raise CorruptObject(f"raw object stores {stored_len} bytes for {raw_len}")
    elif compression == ZSTD:
        if stored_len > zstd_bound(raw_len):
            raise CorruptObject(f"{stored_len} compressed bytes for {raw_len} is implausible")
    else:
        raise CorruptObject(f"unknown compression {compression}")


def zstd_bound(raw_len: int) -> int:
    """Most bytes one zstd frame of ``raw_len`` bytes can take (ZSTD_COMPRESSBOUND plus
    the largest frame header and checksum)."""
    return raw_len + (raw_len >> 8) + 128


def decompress(compression: int, stored: bytes, raw_len: int, kind: int = 0) -> bytes:
    """The object's body, never allocating more than its declared ``raw_len``.

    ``kind`` (the object type) selects the size limit; 0 means the global limit only.
    A zstd frame that declares a content size other than ``raw_len`` is refused before
    decompressing (zstandard would allocate what the frame declares); a frame without
    one is decompressed as a stream that stops one byte past ``raw_len``.
    """
    if kind:
        check_size(kind, compression, len(stored), raw_len)
    elif raw_len > MAX_OBJECT_SIZE:
        raise CorruptObject(f"object of {raw_len} bytes exceeds the {MAX_OBJECT_SIZE} limit")
    if compression == RAW:
        if len(stored) != raw_len:
            raise CorruptObject(f"raw object holds {len(stored)} bytes, expected {raw_len}")
        return stored
    if compression != ZSTD:
        raise CorruptObject(f"unknown compression {compression}")
    import zstandard  # deferred: a C extension, loaded only when a pack is read or written

    decompressor = _local_codec().decompressor
    try:
        declared = zstandard.get_frame_parameters(stored).content_size
        if declared == zstandard.CONTENTSIZE_UNKNOWN:
            raw = _bounded_stream(decompressor, stored, raw_len)
        elif declared != raw_len:
            raise CorruptObject(f"zstd frame declares {declared} bytes, expected {raw_len}")
        else:
            raw = decompressor.decompress(stored)
    except zstandard.ZstdError as exc:
        raise CorruptObject(f"cannot decompress: {exc}") from None
    if len(raw) != raw_len:
        raise CorruptObject(f"decompressed to {len(raw)} bytes, expected {raw_len}")
    return raw


def _bounded_stream(decompressor: Any, stored: bytes, raw_len: int) -> bytes:
    """Decompress a frame of unknown content size, reading at most ``raw_len + 1`` bytes."""
    reader = decompressor.stream_reader(stored)
    parts: list[bytes] = []
    have = 0
    while have <= raw_len:
        piece = reader.read(min(raw_len + 1 - have, 1 << 20))
        if not piece:
            break
        parts.append(piece)
        have += len(piece)
    return b"".join(parts)
