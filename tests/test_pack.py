"""Pack files: sealed, self-describing, named by their hash, and damage is detected."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from blake3 import blake3

from dvault.errors import CorruptObject, CorruptPack
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.store.pack import (
    FOOTER_ENTRY,
    HEADER,
    MAX_OBJECT_SIZE,
    RAW,
    RECORD,
    TRAILER,
    ZSTD,
    PackWriter,
    check_pack_footer,
    compress,
    decompress,
    read_footer,
    scan_records,
)

Obj = tuple[ObjectId, ObjectType, bytes]


def stored_bytes(raw: bytes) -> tuple[int, bytes]:
    """``compress``'s result as bytes (it may keep a raw body as a memoryview)."""
    comp, stored = compress(raw)
    return comp, bytes(stored)


def sample_objects() -> list[Obj]:
    """Compressible text, incompressible random bytes, a tiny and an empty blob, a tree-ish."""
    rng = random.Random(42)
    bodies = [
        (ObjectType.BLOB, b"label,cat\n" * 5000),
        (ObjectType.BLOB, rng.randbytes(50_000)),
        (ObjectType.BLOB, b"x"),
        (ObjectType.BLOB, b""),
        (ObjectType.TREE, b"\x01" + b"\0" * 200),
    ]
    return [(object_id(kind, body), kind, body) for kind, body in bodies]


def write_pack(packs: Path, tmp: Path, objects: list[Obj]) -> tuple[str, PackWriter]:
    """Write and seal a pack holding ``objects``; returns its name and the writer."""
    writer = PackWriter(packs, tmp)
    for oid, kind, body in objects:
        comp, stored = compress(body)
        writer.add(oid, kind, comp, stored, len(body))
    return writer.seal(), writer


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    packs, tmp = tmp_path / "packs", tmp_path / "tmp"
    packs.mkdir()
    tmp.mkdir()
    return packs, tmp


@pytest.fixture
def sealed(dirs: tuple[Path, Path]) -> tuple[Path, list[Obj]]:
    """A sealed pack of :func:`sample_objects` and the objects it holds."""
    objects = sample_objects()
    name, _ = write_pack(*dirs, objects)
    return dirs[0] / f"{name}.pack", objects


def test_compression_choice() -> None:
    """Compressible data is stored as zstd; random (already compressed) data stays raw."""
    text = b"epoch,loss\n1,0.5\n" * 1000
    comp, stored = stored_bytes(text)
    assert comp == ZSTD and len(stored) < len(text) // 4
    assert decompress(comp, stored, len(text)) == text
    noise = random.Random(1).randbytes(100_000)
    assert compress(noise) == (RAW, noise)
    assert compress(b"short") == (RAW, b"short")


def test_sealed_pack_footer_lists_every_object(
    dirs: tuple[Path, Path], sealed: tuple[Path, list[Obj]]
) -> None:
    """The footer alone describes every record (so the index can be rebuilt from packs),
    with the stored compression, and each location reads back the right bytes."""
    path, objects = sealed
    entries = read_footer(path)
    assert [(e.id, e.type, e.raw_len) for e in entries] == [
        (oid, kind, len(body)) for oid, kind, body in objects
    ]
    by_id = {e.id: e for e in entries}
    assert by_id[objects[0][0]].compression == ZSTD  # the CSV
    assert by_id[objects[1][0]].compression == RAW  # the random bytes
    data = path.read_bytes()
    assert data.startswith(HEADER)
    for oid, kind, body in objects:
        e = by_id[oid]
        stored = data[e.offset : e.offset + e.stored_len]
        assert decompress(e.compression, stored, e.raw_len) == body
        assert object_id(kind, body) == oid
    assert list(dirs[1].iterdir()) == []  # the temporary file was renamed away


def test_pack_is_named_by_the_hash_of_all_its_bytes(sealed: tuple[Path, list[Obj]]) -> None:
    """A (version 2) pack's name is the blake3 of every byte of it, as restic names its
    packs: junk data behind a known footer gets another name."""
    path, _ = sealed
    data = path.read_bytes()
    assert path.stem == blake3(data).hexdigest()
    assert path.suffix == ".pack"
    assert data.startswith(HEADER) and data.endswith(b"DVPKEND\x02")


def test_renamed_pack_is_refused(sealed: tuple[Path, list[Obj]]) -> None:
    """A pack whose file name does not match its content is reported, not indexed (the
    store checks a pack's name when it first indexes it: read_footer(whole=True))."""
    path, _ = sealed
    renamed = path.with_name("0" * 64 + ".pack")
    path.rename(renamed)
    read_footer(renamed)  # the footer alone is consistent
    with pytest.raises(CorruptPack, match="not named after its content"):
        read_footer(renamed, whole=True)


def as_version_1(path: Path) -> Path:
    """The same pack as dvault wrote it before issue 17: version 1 header and trailer,
    named by the blake3 of its footer."""
    data = bytearray(path.read_bytes())
    data[4] = 1
    data[-1] = 1
    footer_offset = int.from_bytes(data[-56:-48], "big")
    old = path.with_name(blake3(bytes(data[footer_offset:-56])).hexdigest() + ".pack")
    old.write_bytes(bytes(data))
    path.unlink()
    return old


def test_version_1_packs_are_still_read(sealed: tuple[Path, list[Obj]]) -> None:
    """Packs named by their footer (version 1) keep working, their name still checked."""
    path, objects = sealed
    old = as_version_1(path)
    assert [e.id for e in read_footer(old, whole=True)] == [oid for oid, _, _ in objects]
    renamed = old.with_name("1" * 64 + ".pack")
    old.rename(renamed)
    with pytest.raises(CorruptPack, match="not named after its footer"):
        read_footer(renamed)


def test_same_content_seals_to_same_pack(dirs: tuple[Path, Path]) -> None:
    """Sealing identical content twice leaves one pack and no temporary file."""
    objects = sample_objects()
    a, _ = write_pack(*dirs, objects)
    b, _ = write_pack(*dirs, objects)
    assert a == b
    assert [p.name for p in dirs[0].iterdir()] == [f"{a}.pack"]
    assert list(dirs[1].iterdir()) == []


def test_empty_pack_is_valid(dirs: tuple[Path, Path]) -> None:
    """A pack without objects still has a valid footer."""
    name, _ = write_pack(*dirs, [])
    assert read_footer(dirs[0] / f"{name}.pack") == []


def test_abort_leaves_nothing(dirs: tuple[Path, Path]) -> None:
    """An aborted pack disappears: no packs, no temporary file."""
    writer = PackWriter(*dirs)
    oid, kind, body = sample_objects()[0]
    writer.add(oid, kind, *compress(body), len(body))
    writer.abort()
    assert list(dirs[0].iterdir()) == [] and list(dirs[1].iterdir()) == []


def damaged(path: Path, data: bytes) -> Path:
    out = path.with_name("damaged.pack")
    out.write_bytes(data)
    return out


@pytest.mark.parametrize("keep", [0, 4, len(HEADER), 100, -1, -TRAILER.size, -TRAILER.size - 1])
def test_truncated_pack_is_corrupt(sealed: tuple[Path, list[Obj]], keep: int) -> None:
    """A pack cut short anywhere (crash during copy, full disk) fails with CorruptPack."""
    path, _ = sealed
    data = path.read_bytes()
    with pytest.raises(CorruptPack):
        read_footer(damaged(path, data[:keep]))


@pytest.mark.parametrize("check", [read_footer, check_pack_footer])
def test_every_trailer_and_footer_byte_is_checked(
    sealed: tuple[Path, list[Obj]], check: Callable[[Path], object]
) -> None:
    """Flipping any single byte of the footer or trailer is detected, by the reader and by
    the check verify makes of every pack (which builds no entries)."""
    path, objects = sealed
    data = path.read_bytes()
    footer_len = len(objects) * FOOTER_ENTRY.size + TRAILER.size
    for pos in range(len(data) - footer_len, len(data)):
        bad = bytearray(data)
        bad[pos] ^= 0x01
        with pytest.raises(CorruptPack):
            check(damaged(path, bytes(bad)))


@pytest.mark.parametrize("field", ["kind", "zero", "offset", "raw_len"])
def test_a_forged_footer_with_a_good_checksum_is_refused(
    sealed: tuple[Path, list[Obj]], field: str
) -> None:
    """An entry no writer produces, under a checksum recomputed to match (a forgery, not a
    bit flip): refused by the reader and by verify's check alike."""
    path, _ = sealed
    data = path.read_bytes()
    footer_offset, count, _, magic = TRAILER.unpack(data[-TRAILER.size :])
    entries = [list(e) for e in FOOTER_ENTRY.iter_unpack(data[footer_offset : -TRAILER.size])]
    at = {"kind": 1, "zero": 3, "offset": 4, "raw_len": 6}[field]
    entries[0][at] = {"kind": 9, "zero": 1, "offset": footer_offset, "raw_len": 1 << 40}[field]
    footer = b"".join(FOOTER_ENTRY.pack(*e) for e in entries)
    trailer = TRAILER.pack(footer_offset, count, blake3(footer).digest(), magic)
    forged = damaged(path, data[:footer_offset] + footer + trailer)
    for check in (read_footer, check_pack_footer):
        with pytest.raises(CorruptPack, match="footer"):
            check(forged)


def test_bad_header_is_corrupt(sealed: tuple[Path, list[Obj]]) -> None:
    """A file that is not a dvault pack (or a future version) is refused."""
    path, _ = sealed
    data = bytearray(path.read_bytes())
    for pos in range(len(HEADER)):
        bad = bytearray(data)
        bad[pos] ^= 0x80
        with pytest.raises(CorruptPack):
            read_footer(damaged(path, bytes(bad)))


def test_missing_pack_is_a_clear_error(tmp_path: Path) -> None:
    """Reading a pack that vanished is a dvault error, not a bare OSError."""
    from dvault.errors import DvaultError

    with pytest.raises(DvaultError):
        read_footer(tmp_path / "nope.pack")


def test_scan_records_salvages_pack_without_footer(sealed: tuple[Path, list[Obj]]) -> None:
    """A pack whose footer was cut off (crash before sealing) still yields every record."""
    path, objects = sealed
    entries = read_footer(path)
    end = max(e.offset + e.stored_len for e in entries)
    cut = damaged(path, path.read_bytes()[:end])
    with pytest.raises(CorruptPack):
        read_footer(cut)
    found = {e.id: (e, raw) for e, raw in scan_records(cut)}
    assert {oid: body for oid, (_, body) in found.items()} == {o: b for o, _, b in objects}
    for e in entries:
        assert found[e.id][0] == e  # same location as the footer says


def test_scan_records_skips_a_damaged_record(sealed: tuple[Path, list[Obj]]) -> None:
    """A record whose content bytes were flipped is skipped; the records after it survive."""
    path, objects = sealed
    entries = read_footer(path)
    victim = entries[1]  # the random (RAW) blob, in the middle of the pack
    data = bytearray(path.read_bytes())
    data[victim.offset + victim.stored_len // 2] ^= 0xFF
    found = {e.id: raw for e, raw in scan_records(damaged(path, bytes(data)))}
    expected = {oid: body for oid, _, body in objects if oid != victim.id}
    assert found == expected


def test_scan_records_skips_damaged_compressed_record(sealed: tuple[Path, list[Obj]]) -> None:
    """Damage inside a zstd record (undecodable or wrong bytes) is skipped too."""
    path, objects = sealed
    victim = read_footer(path)[0]
    assert victim.compression == ZSTD
    data = bytearray(path.read_bytes())
    data[victim.offset + victim.stored_len // 2] ^= 0xFF
    found = {e.id for e, _ in scan_records(damaged(path, bytes(data)))}
    assert found == {oid for oid, _, _ in objects} - {victim.id}


def test_scan_records_stops_at_a_torn_record(sealed: tuple[Path, list[Obj]]) -> None:
    """A record cut in the middle (crash mid-write) ends the scan without an error."""
    path, objects = sealed
    entries = read_footer(path)
    cut = entries[2].offset - RECORD.size + 10  # inside the third record's header
    found = [e.id for e, _ in scan_records(damaged(path, path.read_bytes()[:cut]))]
    assert found == [objects[0][0], objects[1][0]]


def test_decompress_refuses_oversized_objects() -> None:
    """A raw length over MAX_OBJECT_SIZE is refused before any allocation (zip bomb)."""
    comp, stored = stored_bytes(b"a" * 1000)
    with pytest.raises(CorruptObject):
        decompress(comp, stored, MAX_OBJECT_SIZE + 1)
    with pytest.raises(CorruptObject):
        decompress(RAW, b"abc", MAX_OBJECT_SIZE + 1)


def test_decompress_checks_lengths_and_codec() -> None:
    """A raw length that does not match, garbage zstd or an unknown codec is corruption."""
    text = b"a" * 1000
    comp, stored = stored_bytes(text)
    with pytest.raises(CorruptObject):
        decompress(comp, stored, 999)
    with pytest.raises(CorruptObject):
        decompress(comp, stored, 1001)
    with pytest.raises(CorruptObject):
        decompress(ZSTD, b"\x28\xb5\x2f\xfd garbage", 10)
    with pytest.raises(CorruptObject):
        decompress(7, stored, 1000)


def test_writer_records_offsets_of_stored_bytes(dirs: tuple[Path, Path]) -> None:
    """PackWriter.add returns the entry the footer later lists, before sealing."""
    writer = PackWriter(*dirs)
    oid, kind, body = sample_objects()[0]
    comp, stored = compress(body)
    entry = writer.add(oid, kind, comp, stored, len(body))
    assert entry.offset == len(HEADER) + RECORD.size
    assert entry.stored_len == len(stored)
    name = writer.seal()
    assert read_footer(dirs[0] / f"{name}.pack") == [entry]
    assert os.listdir(dirs[1]) == []
