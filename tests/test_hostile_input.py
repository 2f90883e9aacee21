"""Hostile bytes: packs, records, objects and ref-log entries that are damaged or forged.

Every parser either returns something valid or raises a DvaultError subclass naming the
problem: never another exception (a crash), never a hang (each example has a deadline),
never an allocation the declared sizes do not justify (decompression bombs).
tests/test_objects.py fuzzes the tree, chunk-list, commit and tag decoders one mutation at a
time; here are whole packs, zstd frames and the remote ref log.
"""

from __future__ import annotations

import contextlib
import json
import random
import struct
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvault.commitobjects import Commit, Tag
from dvault.errors import CorruptObject, CorruptPack, DvaultError
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import decode
from dvault.remote.backend import RemoteTampered
from dvault.remote.reflog import GENESIS, LogEntry, RefUpdate
from dvault.store.pack import (
    FOOTER_ENTRY,
    MAX_SIZE,
    RAW,
    TRAILER,
    ZSTD,
    PackEntry,
    PackWriter,
    check_size,
    compress,
    decompress,
    parse_footer,
    parse_trailer,
    read_footer,
    scan_records,
    unpack_object,
)
from dvault.treeobjects import Tree, TreeEntry

FUZZ = settings(
    max_examples=150,
    deadline=2000,  # a hang (or a runaway allocation) fails the example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def rle_frame(blocks: int, declared: int | None = None, block: int = 128 << 10) -> bytes:
    """A hand-made zstd frame of RLE blocks: ``blocks * block`` output bytes from 4 bytes
    each (a decompression bomb), declaring ``declared`` as its content size (or none)."""
    # descriptor 0x00: no content size, window 2^(10+7) = 128 KiB; 0xC0: 8-byte size
    no_size, sized = bytes([0x00, 0x38]), bytes([0xC0, 0x38])
    head = no_size if declared is None else sized + struct.pack("<Q", declared)
    body = b"".join(
        ((i == blocks - 1) | (1 << 1) | (block << 3)).to_bytes(3, "little") + b"\0"
        for i in range(blocks)
    )
    return b"\x28\xb5\x2f\xfd" + head + body


def peak_bytes(call: Any) -> int:
    """The most memory ``call`` allocated at once (Python and zstandard buffers alike)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        call()
    except DvaultError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


# -- decompression bombs and oversized objects --------------------------------------------


def test_rle_frame_helper_is_a_real_bomb() -> None:
    """The helper's frames decompress to what they claim (so the tests below test bombs)."""
    import zstandard

    frame = rle_frame(4, declared=4 << 17)
    assert len(frame) < 64
    assert zstandard.ZstdDecompressor().decompress(frame) == b"\0" * (4 << 17)


def test_frame_declaring_more_than_the_record_is_refused_without_allocating() -> None:
    """A 56-byte record claiming 100 bytes whose frame declares 256 MiB: refused before
    decompressing (zstandard would allocate what the frame declares)."""
    frame = rle_frame(2048, declared=2048 << 17)
    with pytest.raises(CorruptObject, match="declares"):
        decompress(ZSTD, frame, 100)
    assert peak_bytes(lambda: decompress(ZSTD, frame, 100)) < 4 << 20


def test_frame_without_size_that_expands_past_the_record_stops_early() -> None:
    """A frame with no declared size that would expand to 256 MiB is cut one byte past
    the record's raw length (1 MiB, the most a blob may declare)."""
    frame = rle_frame(2048)
    raw_len = 1 << 20
    with pytest.raises(CorruptObject, match=f"decompressed to {raw_len + 1} bytes"):
        decompress(ZSTD, frame, raw_len, ObjectType.BLOB)
    assert peak_bytes(lambda: decompress(ZSTD, frame, raw_len, ObjectType.BLOB)) < 8 << 20


def test_frame_without_size_still_decodes_when_honest() -> None:
    """Another writer may omit the content size: the bounded stream reads it exactly."""
    frame = rle_frame(3)
    assert decompress(ZSTD, frame, 3 << 17, ObjectType.BLOB) == b"\0" * (3 << 17)


@pytest.mark.parametrize(
    ("kind", "limit"),
    [(ObjectType.BLOB, 1 << 20), (ObjectType.COMMIT, 64 << 20), (ObjectType.TREE, 1 << 30)],
)
def test_oversized_objects_are_refused_by_type(kind: ObjectType, limit: int) -> None:
    """Each type's declared size is bounded (a blob is never larger than a chunk) before
    any byte is read: a bomb can claim at most the limit of its type."""
    assert MAX_SIZE[kind] == limit
    check_size(kind, ZSTD, 10, limit)
    with pytest.raises(CorruptObject, match="exceeds"):
        check_size(kind, ZSTD, 10, limit + 1)
    frame = rle_frame(16, declared=(16 << 17))
    if limit < 16 << 17:
        with pytest.raises(CorruptObject, match="exceeds"):
            decompress(ZSTD, frame, 16 << 17, kind)


@pytest.mark.parametrize(
    ("compression", "stored_len", "raw_len", "message"),
    [
        (RAW, 10, 11, "raw object"),
        (ZSTD, 10_000, 100, "implausible"),
        (2, 10, 10, "unknown compression"),
    ],
)
def test_declared_lengths_must_be_consistent(
    compression: int, stored_len: int, raw_len: int, message: str
) -> None:
    """A footer cannot make a reader fetch 4 GiB for a 10-byte object."""
    with pytest.raises(CorruptObject, match=message):
        check_size(ObjectType.BLOB, compression, stored_len, raw_len)


def test_writer_refuses_a_blob_larger_than_a_chunk(tmp_path: Path) -> None:
    """What readers refuse is never written: an oversized blob fails at write time."""
    (tmp_path / "p").mkdir()
    (tmp_path / "t").mkdir()
    writer = PackWriter(tmp_path / "p", tmp_path / "t")
    body = b"x" * ((1 << 20) + 1)
    with pytest.raises(CorruptObject, match="exceeds"):
        writer.add(object_id(ObjectType.BLOB, body), ObjectType.BLOB, RAW, body, len(body))
    writer.abort()


def test_a_file_that_grows_while_added_is_chunked_not_stored_as_a_huge_blob(
    tmp_path: Path,
) -> None:
    """A file stat'ed at 10 bytes that has grown to 3 MiB is read as chunks (a blob is
    never larger than 1 MiB, so its store stays readable)."""
    from dvault.content import FileContent

    path = tmp_path / "growing"
    path.write_bytes(random.Random(1).randbytes(3 << 20))
    with open(path, "rb") as f:
        content = FileContent(f, size_hint=10)
        objects = list(content.objects())
    assert objects[-1][0] == ObjectType.CHUNKS
    assert all(len(body) <= 1 << 20 for kind, body, _ in objects if kind == ObjectType.BLOB)
    assert content.size == 3 << 20


def test_footer_listing_a_bomb_is_refused_when_the_pack_is_opened(tmp_path: Path) -> None:
    """A pack whose footer declares a 2 GiB blob is refused as a whole by read_footer."""
    packs, tmp = tmp_path / "packs", tmp_path / "tmp"
    packs.mkdir()
    tmp.mkdir()
    writer = PackWriter(packs, tmp)
    writer.add(object_id(ObjectType.BLOB, b"x"), ObjectType.BLOB, RAW, b"x", 1)
    entry = writer.entries[0]
    footer = FOOTER_ENTRY.pack(entry.id, 1, ZSTD, 0, entry.offset, 1, 2 << 30)
    with pytest.raises(CorruptPack, match="exceeds"):
        from blake3 import blake3

        parse_footer(footer, entry.offset + 1, blake3(footer).digest(), None)
    writer.abort()


# -- packs: random and mutated bytes ------------------------------------------------------


def _objects() -> list[tuple[ObjectId, ObjectType, bytes]]:
    rng = random.Random(7)
    tree = Tree.build([TreeEntry(b"a.txt", 0o100644, 3, ObjectId(b"\1" * 32))]).encode()
    commit = Commit(ObjectId(b"\2" * 32), (), "ada", 1, "m", {"data": "dataset"}).encode()
    tag = Tag(ObjectId(b"\3" * 32), "commit", "v1", "ada", 2, "t").encode()
    bodies = [
        (ObjectType.BLOB, b"label,cat\n" * 300),
        (ObjectType.BLOB, rng.randbytes(2000)),
        (ObjectType.BLOB, b""),
        (ObjectType.TREE, tree),
        (ObjectType.COMMIT, commit),
        (ObjectType.TAG, tag),
    ]
    return [(object_id(kind, body), kind, body) for kind, body in bodies]


@pytest.fixture(scope="module")
def real_pack(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    base = tmp_path_factory.mktemp("pack")
    (base / "p").mkdir()
    (base / "t").mkdir()
    writer = PackWriter(base / "p", base / "t")
    for oid, kind, body in _objects():
        comp, stored = compress(body)
        writer.add(oid, kind, comp, stored, len(body))
    name = writer.seal()
    return (base / "p" / f"{name}.pack").read_bytes()


def read_everything(path: Path) -> None:
    """What a reader does with a pack: footer, then every listed object, then salvage.
    Raises only DvaultError subclasses; anything returned is verified content."""
    try:
        entries = read_footer(path)
    except (CorruptPack, CorruptObject):
        entries = []
    data = path.read_bytes()
    for entry in entries:
        stored = data[entry.offset : entry.offset + entry.stored_len]
        try:
            raw = unpack_object(entry.id, entry, stored, "fuzzed")
        except CorruptObject:
            continue
        assert object_id(entry.type, raw) == entry.id
        if entry.type != ObjectType.BLOB:
            with contextlib.suppress(CorruptObject):
                decode(entry.type, raw)
    for entry, raw in scan_records(path):
        assert object_id(entry.type, raw) == entry.id


def mutate(data: bytes, ops: list[tuple[str, int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for op, pos, amount, extra in ops:
        pos = pos % (len(out) + 1)
        if op == "flip" and out:
            out[pos % len(out)] ^= 1 << (amount % 8)
        elif op == "truncate":
            del out[pos:]
        elif op == "splice":  # a copy of another part of the pack, inserted here
            start = amount % (len(data) + 1)
            out[pos:pos] = data[start : start + len(extra) * 8 + 1]
        elif op == "overwrite":
            out[pos : pos + len(extra)] = extra
        elif op == "delete":
            del out[pos : pos + amount % 64 + 1]
    return bytes(out)


mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "truncate", "splice", "overwrite", "delete"]),
        st.integers(0, 1 << 16),
        st.integers(0, 1 << 16),
        st.binary(max_size=16),
    ),
    min_size=1,
    max_size=4,
)


@FUZZ
@given(mutations)
def test_fuzz_mutated_packs(real_pack: bytes, tmp_path: Path, ops: list[Any]) -> None:
    """Bit flips, truncations, splices and overwrites of a real pack, read as a fresh pack
    (unnamed) would be: clear errors, or verified objects."""
    path = tmp_path / f"fuzz-{random.getrandbits(32)}.bin"
    path.write_bytes(mutate(real_pack, ops))
    read_everything(path)
    path.unlink()


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_random_packs(tmp_path: Path, data: bytes) -> None:
    """Random bytes, with or without a valid header, never crash any pack reader."""
    for prefix in (b"", b"DVPK\x01\0\0\0"):
        path = tmp_path / f"rand-{random.getrandbits(32)}.bin"
        path.write_bytes(prefix + data)
        read_everything(path)
        path.unlink()


@FUZZ
@given(
    st.binary(min_size=TRAILER.size, max_size=TRAILER.size),
    st.integers(0, 1 << 70),
    st.binary(max_size=3 * FOOTER_ENTRY.size + 5),
    st.integers(0, 1 << 66),
)
def test_fuzz_trailer_and_footer_parsing(
    trailer: bytes, size: int, footer: bytes, footer_offset: int
) -> None:
    """parse_trailer and parse_footer (the remote path: range reads, no file) on forged
    bytes, including footers whose checksum matches (a forger can compute blake3)."""
    from blake3 import blake3

    with contextlib.suppress(CorruptPack):
        parse_trailer(trailer, size, "fuzz")
    for checksum in (blake3(footer).digest(), trailer[16:48]):
        try:
            entries = parse_footer(footer, footer_offset, checksum, None)
        except (CorruptPack, CorruptObject):
            continue
        for entry in entries:
            check_size(entry.type, entry.compression, entry.stored_len, entry.raw_len)
            assert entry.offset + entry.stored_len <= footer_offset


frames = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda b: compress(b)[1], st.binary(min_size=64, max_size=3000)),
    st.builds(rle_frame, st.integers(1, 40), st.none() | st.integers(0, (1 << 64) - 1)),
    st.builds(lambda n, b: rle_frame(n, block=b), st.integers(1, 8), st.integers(1, 1 << 17)),
)


@FUZZ
@given(
    st.integers(0, 7),
    st.integers(0, 3),
    st.integers(0, (1 << 64) - 1) | st.integers(0, 1 << 21),
    frames,
)
def test_fuzz_unpack_object_with_hostile_headers(
    kind: int, compression: int, raw_len: int, stored: bytes
) -> None:
    """Any record header (type, codec, raw length) over any stored bytes, bombs included:
    a CorruptObject, quickly and without allocating beyond the type's limit."""
    oid = ObjectId(b"\0" * 32)
    if kind not in ObjectType._value2member_map_:
        with pytest.raises(CorruptObject):
            decompress(compression, stored, raw_len, kind or 9)
        return
    entry = PackEntry(oid, ObjectType(kind), compression, 56, len(stored), raw_len)
    start = time.monotonic()
    with pytest.raises(CorruptObject):  # the id is all zeros: nothing can verify
        unpack_object(oid, entry, stored, "hostile record")
    assert time.monotonic() - start < 1


# -- the remote ref log -------------------------------------------------------------------


def _log_entries() -> list[bytes]:
    v2 = LogEntry(
        seq=3,
        prev="ab" * 32,
        updates=(
            RefUpdate("refs/heads/main", "cd" * 32, "ef" * 32),
            RefUpdate("refs/tags/v1", None, "01" * 32),
        ),
        time_ns=1_764_057_600_000_000_000,
        user="ada",
        host="gpu-01",
    ).encode()
    v1 = json.dumps(
        {
            "force": False,
            "host": "h",
            "new": "12" * 32,
            "old": None,
            "prev": GENESIS,
            "ref": "refs/heads/main",
            "seq": 0,
            "time_ns": 5,
            "user": "u",
            "version": 1,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return [v2, v1]


def decode_entry(raw: bytes) -> None:
    try:
        entry = LogEntry.decode(raw, "fuzzed entry")
    except RemoteTampered:
        return
    # what was accepted is well-typed and re-encodes (replay and display rely on it)
    assert isinstance(entry.seq, int) and not isinstance(entry.seq, bool) and entry.seq >= 0
    assert isinstance(entry.user, str) and isinstance(entry.host, str)
    assert all(isinstance(u.ref, str) and isinstance(u.force, bool) for u in entry.updates)
    entry.encode()


def test_reference_entries_decode() -> None:
    for raw in _log_entries():
        decode_entry(raw)
        LogEntry.decode(raw, "reference")


@FUZZ
@given(st.sampled_from([0, 1]), mutations)
def test_fuzz_mutated_log_entries(which: int, ops: list[Any]) -> None:
    """Byte-level damage to valid version 1 and 2 entries: RemoteTampered or a valid entry."""
    decode_entry(mutate(_log_entries()[which], ops))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(
    st.sampled_from([0, 1]),
    st.sampled_from(
        ["seq", "prev", "time_ns", "user", "host", "version", "updates", "ref", "new", "old"]
    ),
    json_values,
    st.sampled_from(["", "ref", "old", "new", "force"]),
)
def test_fuzz_log_entry_fields(which: int, key: str, value: Any, inner: str) -> None:
    """Canonical JSON with any field (or any field of an update) replaced by any JSON
    value: a forged entry that parses but carries wrong types is refused, not replayed."""
    entry = json.loads(_log_entries()[which])
    if inner and "updates" in entry:
        entry["updates"][0][inner] = value
    else:
        entry[key] = value
    decode_entry(
        json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


def test_deeply_nested_log_entry_is_tampering_not_a_crash() -> None:
    with pytest.raises(RemoteTampered):
        LogEntry.decode(b"[" * 100_000 + b"]" * 100_000, "nested")


@pytest.mark.parametrize("field", ["seq", "version", "time_ns"])
def test_log_entry_booleans_are_not_numbers(field: str) -> None:
    """``true`` equals 1 in Python: an entry spelling a number as a boolean is refused."""
    entry = json.loads(_log_entries()[0])
    entry[field] = True
    raw = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(RemoteTampered):
        LogEntry.decode(raw, "bool")
