"""Re-cutting a changed file along its previous chunk list gives exactly a full cut's
chunks, and cuts anew only around the change."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dvault.chunking import MAX_SIZE, chunk_bytes
from dvault.content import Data, hash_each
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import ChunkList
from dvault.rechunk import RESYNC_LIMIT, rechunk
from tests.test_chunking import mixed_bytes, random_bytes


def listing(data: bytes) -> list[tuple[ObjectId, int]]:
    return [(object_id(ObjectType.BLOB, c), len(c)) for c in chunk_bytes(data)]


class CountingHasher:
    """hash_each, remembering which chunk objects it handed out (the reused ones). They
    are kept alive, so no chunk cut later can take over a discarded one's ``id``."""

    def __init__(self) -> None:
        self.seen: dict[int, Data] = {}

    def __call__(self, chunks: Iterator[Data]) -> Iterator[tuple[Data, ObjectId]]:
        for data, oid in hash_each(chunks):
            self.seen[id(data)] = data
            yield data, oid


def recut(old: bytes, new: bytes) -> tuple[list[tuple[ObjectId, int]], int]:
    """``new``'s chunk list re-cut along ``old``'s, and how many chunks were cut anew."""
    hasher = CountingHasher()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "file")
        path.write_bytes(new)
        with open(path, "rb") as f:
            pairs = list(rechunk(f, ChunkList(tuple(listing(old))), hasher))
    for data, oid in pairs:
        assert object_id(ObjectType.BLOB, data) == oid
    fresh = sum(1 for data, _ in pairs if id(data) not in hasher.seen)
    return [(oid, len(data)) for data, oid in pairs], fresh


def edit(data: bytes, kind: str, where: float, length: int, seed: int) -> bytes:
    rng = random.Random(seed)
    at = int(where * len(data))
    if kind == "overwrite":
        return data[:at] + rng.randbytes(length) + data[at + length :]
    if kind == "insert":
        return data[:at] + rng.randbytes(length) + data[at:]
    if kind == "delete":
        return data[:at] + data[at + length :]
    if kind == "append":
        return data + rng.randbytes(length)
    return data[:at]  # truncate


edits = st.lists(
    st.tuples(
        st.sampled_from(["overwrite", "insert", "delete", "append", "truncate"]),
        st.floats(min_value=0, max_value=1),
        st.sampled_from([1, 2, 4096, 70_000, MAX_SIZE, 3 << 20]),
        st.integers(min_value=0, max_value=2**32),
    ),
    min_size=0,
    max_size=3,
)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([random_bytes, mixed_bytes]),
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=2 << 20, max_value=9 << 20),
    edits,
)
def test_recut_equals_a_full_cut(gen: object, seed: int, size: int, changes: list) -> None:
    """Whatever the edits (in place, shifting, at either end), the chunks are a full
    cut's: the file's id never depends on whether it was re-cut."""
    old = gen(seed, size)  # type: ignore[operator]
    new = old
    for change in changes:
        new = edit(new, *change)
    got, _ = recut(old, new)
    assert got == listing(new)


def test_an_in_place_change_is_cut_anew_only_around_it() -> None:
    """A 4 KiB overwrite in 16 MiB: one or two chunks are cut, the rest reused."""
    old = random_bytes(1, 16 << 20)
    new = edit(old, "overwrite", 0.5, 4096, 2)
    got, fresh = recut(old, new)
    assert got == listing(new)
    assert 1 <= fresh <= 3
    assert len(got) > 40


def test_an_unchanged_file_is_not_cut_at_all() -> None:
    old = mixed_bytes(3, 8 << 20)
    got, fresh = recut(old, old)
    assert got == listing(old) and fresh == 0


def test_appended_data_is_cut_from_the_last_previous_chunk_on() -> None:
    old = random_bytes(4, 8 << 20)
    new = old + random_bytes(5, 2 << 20)
    got, fresh = recut(old, new)
    assert got == listing(new)
    assert fresh <= 2 + (2 << 20) // (64 << 10)  # the old last chunk and the new bytes


def test_shifted_content_gives_up_on_the_previous_chunks() -> None:
    """An insertion near the start shifts every later chunk: after RESYNC_LIMIT fresh
    cuts the rest is cut as usual (its chunks come from the normal path's hasher)."""
    old = random_bytes(6, 40 << 20)
    new = edit(old, "insert", 0.01, 100, 7)
    got, fresh = recut(old, new)
    assert got == listing(new)
    assert fresh == RESYNC_LIMIT


def test_a_change_just_after_a_chunk_is_seen_by_its_cut() -> None:
    """FastCDC decides a cut by the byte after the chunk: an unchanged chunk followed by a
    changed byte is cut anew, not reused (one case per boundary, all must agree)."""
    old = random_bytes(8, 6 << 20)
    boundaries = []
    offset = 0
    for _, length in listing(old)[:-1]:
        offset += length
        boundaries.append(offset)
    for at in boundaries[:8]:
        new = old[:at] + bytes([old[at] ^ 0xFF]) + old[at + 1 :]
        assert recut(old, new)[0] == listing(new), at
