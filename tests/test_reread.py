"""``ObjectStore.reread`` (what ``verify --read-data`` runs): every object read back in
pack order on every core, each damaged one named, every other one still checked."""

from __future__ import annotations

import dataclasses
import os
import random

import pytest

from dvault.errors import CorruptObject
from dvault.hashing import ObjectId, ObjectType
from dvault.store import objectstore
from dvault.store.objectstore import ObjectStore


def _flip(path: os.PathLike[str], at: int) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize("window", [1 << 16, 7])
def test_reread_names_each_damaged_object_and_checks_the_rest(
    store: ObjectStore, window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also with windows of 7 objects: what a million-object store goes through."""
    monkeypatch.setattr(objectstore, "REREAD_WINDOW", window)
    rng = random.Random(7)
    blobs = [rng.randbytes(90_000 + i) for i in range(60)]  # random: stored raw
    blobs += [b"label,%d\n" % i * 3000 for i in range(20)]  # compressible: zstd
    with store.writer() as w:
        ids = [w.put_raw(ObjectType.BLOB, b) for b in blobs]
    size = {oid: len(b) for oid, b in zip(ids, blobs, strict=True)}
    seen: list[int] = []
    done, bad = store.reread(ids, seen.append)
    assert (done, bad) == (sum(size.values()), {})
    assert sum(seen) == done  # progress adds up to the whole

    # one raw and one compressed object, each inside a run of others: a flipped bit each
    for victim in (ids[17], ids[70]):
        name, entry = store.locate(victim)
        _flip(store.packs_dir / f"{name}.pack", entry.offset + entry.stored_len // 2)
    missing = ObjectId(bytes(32))
    done, bad = store.reread([*ids, missing])
    assert set(bad) == {ids[17], ids[70], missing}
    assert "fails its hash check" in bad[ids[17]] and "missing" in bad[missing]
    assert done == sum(size.values()) - size[ids[17]] - size[ids[70]]

    # a pack cut short: each object past the cut is "truncated", every one before it checks
    name, entry = store.locate(ids[40])
    pack = store.packs_dir / f"{name}.pack"
    cut = entry.offset + 10
    os.truncate(pack, cut)
    done, bad = store.reread(ids)
    located = {oid: store.locate(oid) for oid in ids}
    past = {oid for oid, (n, e) in located.items() if n == name and e.offset + e.stored_len > cut}
    assert ids[40] in past
    assert set(bad) == past | {ids[17], ids[70]}
    assert all("truncated" in bad[oid] for oid in past)
    assert done == sum(s for oid, s in size.items() if oid not in bad)

    # an index entry claiming more than any object may hold: named, never allocated, and
    # never folded into the sort key (where a 2**50 length would spill into other fields)
    name, entry = store.locate(ids[5])
    store.index.add_pack(name, [dataclasses.replace(entry, raw_len=1 << 50)], prefer=True)
    done, bad = store.reread(ids)
    assert "over the" in bad[ids[5]] and set(bad) == past | {ids[5], ids[17], ids[70]}


def test_a_damaged_index_entry_is_refused_not_trusted(store: ObjectStore) -> None:
    """The fast paths a walk and the re-read take through the index (a type byte, the raw
    fields) refuse an entry with an unknown type or a wrong length, as lookup does."""
    with store.writer() as w:
        oid = w.put_raw(ObjectType.BLOB, b"x" * 100)
    assert store.type_of(oid) == ObjectType.BLOB
    assert list(store.index.locations([oid, bytes(32)]))[1] is None
    index = store.index
    with index.env.begin(write=True, db=index._objects) as txn:
        raw = txn.get(oid)
        assert raw is not None
        good = bytes(raw)
        txn.put(oid, good[:4] + b"\x09" + good[5:])  # type 9: no such object type
    for read in (store.type_of, lambda o: list(store.index.locations([o]))):
        with pytest.raises(CorruptObject, match="object index is damaged"):
            read(oid)
    with index.env.begin(write=True, db=index._objects) as txn:
        txn.put(oid, good[:-1])  # one byte short
    with pytest.raises(CorruptObject, match="object index is damaged"):
        store.type_of(oid)
