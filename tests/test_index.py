"""The LMDB object index (store/index.py): packs recorded one at a time or a group per
transaction must read back the same, and a group is all or nothing."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from dvault.hashing import ObjectId, ObjectType
from dvault.store.index import PUT_BATCH, ObjectIndex
from dvault.store.pack import PackEntry


def entries(rng: random.Random, count: int, kind: ObjectType = ObjectType.BLOB) -> list[PackEntry]:
    return [
        PackEntry(ObjectId(rng.randbytes(32)), kind, 0, 16 + 100 * i, 90, 90) for i in range(count)
    ]


def snapshot(index: ObjectIndex) -> dict[bytes, tuple[str, PackEntry]]:
    """Every id -> (its pack's name, its entry), as a reader sees them."""
    seen: dict[bytes, tuple[str, PackEntry]] = {}
    for oid, _ in index.iter_ids():
        found = index.lookup(oid)
        assert found is not None
        seen[bytes(oid)] = (index.pack_name(found[0]), found[1])
    return seen


def test_a_group_reads_back_as_packs_added_one_by_one(tmp_path: Path) -> None:
    """Three packs, one sharing ids with another and one longer than a putmulti batch:
    the same locations (first copy wins), the same pack names, whichever way they came."""
    rng = random.Random(7)
    first, second = entries(rng, 300), entries(rng, PUT_BATCH + 5, ObjectType.TREE)
    shared = [PackEntry(e.id, e.type, 0, 9000 + i, 90, 90) for i, e in enumerate(first[:40])]
    packs = [("a" * 64, first), ("b" * 64, second), ("c" * 64, shared + entries(rng, 10))]

    one_by_one = ObjectIndex(tmp_path / "one")
    for name, items in packs:
        one_by_one.add_pack(name, items)
    grouped = ObjectIndex(tmp_path / "group")
    grouped.add_packs(iter([(name, iter(items)) for name, items in packs]))

    expected = snapshot(one_by_one)
    assert snapshot(grouped) == expected
    assert len(expected) == 300 + PUT_BATCH + 5 + 10
    assert expected[bytes(first[0].id)] == ("a" * 64, first[0])  # the first copy kept
    assert sorted(grouped.pack_names.values()) == ["a" * 64, "b" * 64, "c" * 64]
    grouped.close()
    reopened = ObjectIndex(tmp_path / "group", readonly=True)
    assert snapshot(reopened) == expected  # durable, and the pack table with it


def test_a_group_that_fails_records_none_of_its_packs(tmp_path: Path) -> None:
    """A footer that fails half-way through a group (here: its iterator raises) leaves
    the index as it was: no pack of the group and none of their objects."""
    rng = random.Random(8)
    index = ObjectIndex(tmp_path / "index")
    index.add_pack("0" * 64, entries(rng, 20))
    before = snapshot(index)

    def failing() -> Iterator[PackEntry]:
        yield from entries(rng, 50)
        raise OSError("the footer could not be read")

    with pytest.raises(OSError):
        index.add_packs([("1" * 64, entries(rng, 30)), ("2" * 64, failing())])
    assert snapshot(index) == before
    assert sorted(index.pack_names.values()) == ["0" * 64]
    index.add_pack("1" * 64, entries(rng, 3))  # and the next pack gets a fresh number
    assert sorted(index.pack_names.values()) == ["0" * 64, "1" * 64]
