"""File content ids: hashing without storing agrees with what the store records."""

from __future__ import annotations

import io
import random

import pytest

from dvault.chunking import CHUNK_THRESHOLD, chunk_bytes
from dvault.content import FileContent, hash_stream
from dvault.hashing import ObjectType, object_id
from dvault.objects import ChunkList
from dvault.store.objectstore import ObjectStore


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


SIZES = [0, 1, 4096, CHUNK_THRESHOLD, CHUNK_THRESHOLD + 1, 3 * CHUNK_THRESHOLD + 12345]


@pytest.mark.parametrize("size", SIZES)
def test_hash_stream_equals_stored_id(store: ObjectStore, size: int) -> None:
    """``status`` (hash only) and ``add`` (store) always agree on a file's id and size,
    and the stored content reads back byte for byte."""
    data = data_of(size, seed=size)
    oid, n = hash_stream(io.BytesIO(data), len(data))
    with store.writer() as w:
        stored_id, stored_n = w.put_file(io.BytesIO(data), len(data))
    assert (oid, n) == (stored_id, stored_n) == (oid, len(data))
    assert store.read_file_content(oid) == data


@pytest.mark.parametrize("size", [0, 1, 1000, CHUNK_THRESHOLD])
def test_small_files_are_one_blob(store: ObjectStore, size: int) -> None:
    """Files up to the threshold are a single blob whose id is the blob id of the bytes."""
    data = data_of(size)
    oid, _ = hash_stream(io.BytesIO(data), size)
    assert oid == object_id(ObjectType.BLOB, data)
    with store.writer() as w:
        w.put_file(io.BytesIO(data), size)
    assert store.get_raw(oid) == (ObjectType.BLOB, data)


def test_large_files_are_a_chunk_list(store: ObjectStore) -> None:
    """Files over the threshold become chunk blobs plus a chunk list naming them in order."""
    data = data_of(3 * CHUNK_THRESHOLD, seed=3)
    oid, size = hash_stream(io.BytesIO(data), len(data))
    chunks = chunk_bytes(data)
    assert len(chunks) > 1
    expected = ChunkList(tuple((object_id(ObjectType.BLOB, c), len(c)) for c in chunks))
    assert oid == object_id(ObjectType.CHUNKS, expected.encode())
    assert size == len(data)
    with store.writer() as w:
        w.put_file(io.BytesIO(data), len(data))
    kind, body = store.get_raw(oid)
    assert kind == ObjectType.CHUNKS
    assert ChunkList.decode(body) == expected
    for cid, _ in expected.chunks:
        assert store.has(cid)


def test_objects_yields_file_object_last() -> None:
    """Chunks are yielded before the list that names them (stored before referenced)."""
    data = data_of(2 * CHUNK_THRESHOLD, seed=9)
    content = FileContent(io.BytesIO(data), len(data))
    produced = list(content.objects())
    assert produced[-1][0] == ObjectType.CHUNKS
    assert produced[-1][2] == content.id
    assert all(kind == ObjectType.BLOB for kind, _, _ in produced[:-1])
    for kind, body, oid in produced:
        assert object_id(kind, body) == oid


def test_size_hint_only_picks_the_layout() -> None:
    """A file that shrank below the threshold while being read is recorded as what was read."""
    data = data_of(1000)
    oid, size = hash_stream(io.BytesIO(data), CHUNK_THRESHOLD + 1)  # stat said it was large
    assert (oid, size) == (object_id(ObjectType.BLOB, data), 1000)
    oid, size = hash_stream(io.BytesIO(b""), CHUNK_THRESHOLD + 1)
    assert (oid, size) == (object_id(ObjectType.BLOB, b""), 0)


def test_same_content_same_id_regardless_of_stream() -> None:
    """Ids depend on bytes only: reading from a real file gives the in-memory id."""
    data = data_of(CHUNK_THRESHOLD + 5000, seed=4)
    a = hash_stream(io.BytesIO(data), len(data))
    b = hash_stream(io.BufferedReader(io.BytesIO(data), buffer_size=1000), len(data))
    assert a == b
