"""The object store: verified reads, durable batches, and an index rebuilt from packs."""

from __future__ import annotations

import io
import random
import shutil
from pathlib import Path

import pytest

from dvault.commitobjects import Commit
from dvault.errors import CorruptObject, MissingObject
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import ChunkList
from dvault.store.objectstore import ObjectStore
from dvault.store.pack import RAW, ZSTD, PackWriter, compress
from dvault.treeobjects import MODE_FILE, Tree, TreeEntry

TEXT = b"image,label\n" + b"img_0001.png,cat\n" * 4000
NOISE = random.Random(3).randbytes(40_000)


def put_samples(store: ObjectStore) -> dict[ObjectId, bytes]:
    """Store a few blobs, a tree and a commit; returns id → canonical bytes."""
    out: dict[ObjectId, bytes] = {}
    with store.writer() as w:
        for body in (TEXT, NOISE, b"", b"tiny"):
            out[w.put_raw(ObjectType.BLOB, body)] = body
        tree = Tree.build(
            [TreeEntry(b"labels.csv", MODE_FILE, len(TEXT), object_id(ObjectType.BLOB, TEXT))]
        )
        out[w.put(tree)] = tree.encode()
        commit = Commit(w.put(tree), (), "ann", 1, "first", {"data": "dataset"}, {"k": [1]})
        out[w.put(commit)] = commit.encode()
    return out


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def flip_stored_byte(store: ObjectStore, oid: bytes) -> None:
    """Flip one byte inside ``oid``'s stored record, on disk, as bit rot would."""
    name, entry = store.locate(oid)
    path = store.packs_dir / f"{name}.pack"
    with open(path, "r+b") as f:
        f.seek(entry.offset + entry.stored_len // 2)
        byte = f.read(1)
        f.seek(-1, io.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x40]))


def test_put_get_round_trip(store: ObjectStore) -> None:
    """Every object reads back with its type and exact bytes; decoded objects are equal."""
    samples = put_samples(store)
    for oid, body in samples.items():
        kind, raw = store.get_raw(oid)
        assert raw == body
        assert object_id(kind, raw) == oid
        assert store.has(oid)
    commit_id = next(o for o, b in samples.items() if b.startswith(b'{"author"'))
    commit = store.get(commit_id, ObjectType.COMMIT)
    assert isinstance(commit, Commit) and commit.message == "first"


def test_missing_object(store: ObjectStore) -> None:
    """An id the store does not hold raises MissingObject naming it."""
    put_samples(store)
    unknown = object_id(ObjectType.BLOB, b"never stored")
    assert not store.has(unknown)
    with pytest.raises(MissingObject, match=unknown.hex()):
        store.get_raw(unknown)
    with pytest.raises(MissingObject):
        list(store.iter_file_content(unknown))


@pytest.mark.parametrize("body", [TEXT, NOISE], ids=["zstd", "raw"])
def test_bit_rot_is_never_served(store: ObjectStore, body: bytes) -> None:
    """A stored object flipped on disk raises CorruptObject naming it, never returns data."""
    with store.writer() as w:
        oid = w.put_raw(ObjectType.BLOB, body)
    assert store.locate(oid)[1].compression == (ZSTD if body is TEXT else RAW)
    flip_stored_byte(store, oid)
    with pytest.raises(CorruptObject, match=oid.hex()):
        store.get_raw(oid)
    with pytest.raises(CorruptObject, match=oid.hex()):
        store.read_file_content(oid)
    store.close()
    reopened = ObjectStore(store.root)  # no cached state can hide the damage
    try:
        with pytest.raises(CorruptObject, match=oid.hex()):
            reopened.get_raw(oid)
    finally:
        reopened.close()


def test_corrupt_chunk_of_large_file_is_detected(store: ObjectStore) -> None:
    """Damage to one chunk of a chunked file fails the read instead of returning bad bytes."""
    data = random.Random(8).randbytes(3 << 20)
    with store.writer() as w:
        oid, _ = w.put_file(io.BytesIO(data), len(data))
    _, listing = store.get_raw(oid)
    victim = ChunkList.decode(listing).chunks[1][0]
    flip_stored_byte(store, victim)
    with pytest.raises(CorruptObject, match=victim.hex()):
        store.read_file_content(oid)


def test_get_checks_expected_type(store: ObjectStore) -> None:
    """Asking for a tree but finding a blob is an error, not a mis-parse."""
    with store.writer() as w:
        oid = w.put_raw(ObjectType.BLOB, b"\x01")  # would even parse as an empty tree
    with pytest.raises(CorruptObject):
        store.get(oid, ObjectType.TREE)
    with store.writer() as w:
        tree_id = w.put(Tree())
    with pytest.raises(CorruptObject):
        list(store.iter_file_content(tree_id))


def test_index_is_rebuilt_from_packs(store_dir: Path) -> None:
    """Deleting the index loses nothing: reopening rebuilds it from pack footers and every
    object (small, chunked, tree, commit) reads back byte for byte from the same place."""
    store = ObjectStore(store_dir)
    samples = put_samples(store)
    big = random.Random(5).randbytes(3 << 20)
    with store.writer() as w:
        big_id, _ = w.put_file(io.BytesIO(big), len(big))
    locations = {oid: store.locate(oid) for oid, _ in store.index.iter_ids()}
    count = store.index.count()
    store.close()

    shutil.rmtree(store_dir / "index")
    store = ObjectStore(store_dir)
    try:
        assert store.index.count() == count
        assert {oid: store.locate(oid) for oid, _ in store.index.iter_ids()} == locations
        for oid, body in samples.items():
            assert store.get_raw(oid)[1] == body
        assert store.read_file_content(big_id) == big
    finally:
        store.close()


def test_sealed_but_unindexed_pack_is_picked_up(store_dir: Path) -> None:
    """A crash between sealing a pack and indexing it heals on the next open."""
    store = ObjectStore(store_dir)
    put_samples(store)
    store.close()
    writer = PackWriter(store_dir / "packs", store_dir / "tmp")
    orphan = b"written by a process killed before it indexed"
    oid = object_id(ObjectType.BLOB, orphan)
    writer.add(oid, ObjectType.BLOB, *compress(orphan), len(orphan))
    name = writer.seal()

    store = ObjectStore(store_dir)
    try:
        assert name in store.index.pack_names.values()
        assert store.get_raw(oid) == (ObjectType.BLOB, orphan)
        assert store.sync_packs() == []  # idempotent
    finally:
        store.close()


def test_sync_packs_on_an_open_store(store: ObjectStore) -> None:
    """Packs arriving while the store is open (fetch) are indexed by sync_packs."""
    writer = PackWriter(store.packs_dir, store.tmp_dir)
    body = b"fetched"
    oid = object_id(ObjectType.BLOB, body)
    writer.add(oid, ObjectType.BLOB, *compress(body), len(body))
    name = writer.seal()
    assert not store.has(oid)
    assert store.sync_packs() == [name]
    assert store.get_raw(oid)[1] == body


def test_large_file_round_trip(store: ObjectStore) -> None:
    """A 5 MiB file is chunked, stored and streamed back in verified pieces."""
    data = random.Random(11).randbytes(5 << 20)
    with store.writer() as w:
        oid, size = w.put_file(io.BytesIO(data), len(data))
    assert size == len(data)
    assert store.get_raw(oid)[0] == ObjectType.CHUNKS
    pieces = list(store.iter_file_content(oid))
    assert len(pieces) > 1
    assert b"".join(pieces) == data


def test_failed_batch_leaves_nothing(store: ObjectStore) -> None:
    """An exception inside a writer drops the batch: no pack, no temp file, nothing indexed."""
    before = all_files(store.packs_dir) + all_files(store.tmp_dir)
    with pytest.raises(RuntimeError), store.writer() as w:
        oid = w.put_raw(ObjectType.BLOB, TEXT)
        w.put_file(io.BytesIO(NOISE), len(NOISE))
        raise RuntimeError("command failed half-way")
    assert all_files(store.packs_dir) + all_files(store.tmp_dir) == before
    assert not store.has(oid)
    assert store.index.count() == 0


def test_writer_batch_is_invisible_until_flushed(store: ObjectStore) -> None:
    """Objects become readable (and durable) only when the batch is sealed."""
    w = store.writer()
    oid = w.put_raw(ObjectType.BLOB, b"pending")
    assert w.has(oid)
    assert not store.has(oid)
    w.flush()
    assert store.get_raw(oid)[1] == b"pending"


def test_dedup_stores_content_once(store: ObjectStore) -> None:
    """Putting the same content again, in the same or a later batch, stores nothing new."""
    data = random.Random(2).randbytes(2 << 20)
    with store.writer() as w:
        a = w.put_raw(ObjectType.BLOB, TEXT)
        b = w.put_raw(ObjectType.BLOB, TEXT)
        first, _ = w.put_file(io.BytesIO(data), len(data))
        written = w.objects_written
    assert a == b
    packs = all_files(store.packs_dir)
    count = store.index.count()
    assert count == written
    with store.writer() as w:
        assert w.put_raw(ObjectType.BLOB, TEXT) == a
        assert w.put_file(io.BytesIO(data), len(data))[0] == first
        assert w.objects_written == 0 and w.bytes_written == 0
    assert all_files(store.packs_dir) == packs
    assert store.index.count() == count


def test_same_bytes_as_blob_and_tree_are_two_objects(store: ObjectStore) -> None:
    """Domain separation holds in the store: one body under two types is two objects."""
    body = Tree().encode()
    with store.writer() as w:
        blob = w.put_raw(ObjectType.BLOB, body)
        tree = w.put(Tree())
    assert blob != tree
    assert store.get_raw(blob) == (ObjectType.BLOB, body)
    assert store.get_raw(tree) == (ObjectType.TREE, body)


def test_abbreviated_ids(store: ObjectStore) -> None:
    """find_prefix resolves a unique hex prefix (odd length too) to the full id."""
    samples = put_samples(store)
    for oid in samples:
        for n in (4, 7, 12):
            assert store.index.find_prefix(oid.hex()[:n], limit=10) == [oid]
