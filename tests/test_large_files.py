"""Large files stored on several threads (ObjectWriter.put_file's chunk pool) are stored
exactly as one thread stores them, and a failure part-way leaves no file object behind."""

from __future__ import annotations

import io
import random
import threading
from pathlib import Path
from typing import Any

import pytest

import dvault.store.objectstore as objectstore
from dvault.chunking import chunk_bytes
from dvault.content import hash_stream
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.objects import ChunkList
from dvault.store.objectstore import ObjectStore
from dvault.store.pack import read_footer
from dvault.store.state import StageEntry
from tests.conftest import make_store_dir


def mixed_data(size: int, seed: int) -> bytes:
    """Half compressible (stored zstd), half random (stored raw), in 64 KiB stretches."""
    rng = random.Random(seed)
    parts = []
    for i in range(size // (64 << 10)):
        stretch = rng.randbytes(64 << 10)
        parts.append(stretch if i % 2 else bytes(b & 0x0F for b in stretch))
    return b"".join(parts)


def store_with(
    tmp_path: Path, name: str, workers: int, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> tuple[ObjectStore, ObjectId, int]:
    """Store ``data`` as one file with ``workers`` chunk threads in a new store."""
    monkeypatch.setattr(objectstore, "CHUNK_WORKERS", workers)
    store = ObjectStore(make_store_dir(tmp_path / name))
    with store.writer() as w:
        oid, size = w.put_file(io.BytesIO(data), len(data))
    return store, oid, size


def pack_layout(store: ObjectStore) -> list[tuple[str, list[tuple[bytes, int, int, int]]]]:
    """Every pack's name and its records in order (id, compression, offset, stored size)."""
    return [
        (name, [(e.id, e.compression, e.offset, e.stored_len) for e in read_footer(path)])
        for name, path in sorted(store.pack_files().items())
    ]


def test_parallel_put_file_stores_what_one_thread_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same id, same chunk list (the independently computed FastCDC cut), same packs byte
    for byte (pack names hash the footers), and the content reads back exactly."""
    data = mixed_data(6 << 20, seed=1)
    serial, serial_id, serial_size = store_with(tmp_path, "serial", 1, monkeypatch, data)
    parallel, parallel_id, parallel_size = store_with(tmp_path, "parallel", 3, monkeypatch, data)
    try:
        chunks = chunk_bytes(data)
        assert len(chunks) > 8
        expected = ChunkList(tuple((object_id(ObjectType.BLOB, c), len(c)) for c in chunks))
        assert parallel_id == serial_id == hash_stream(io.BytesIO(data), len(data))[0]
        assert parallel_size == serial_size == len(data)
        kind, body = parallel.get_raw(parallel_id)
        assert kind == ObjectType.CHUNKS and ChunkList.decode(body) == expected
        assert parallel.read_file_content(parallel_id) == data
        layout = pack_layout(parallel)
        assert layout == pack_layout(serial)
        assert layout[0][1][-1][0] == parallel_id  # the chunk list follows its chunks
    finally:
        serial.close()
        parallel.close()


def test_stored_chunks_are_skipped_not_recompressed(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-adding an edited file compresses and stores only the chunks the edit touched
    (and the new chunk list); a chunk repeated inside one file is stored once."""
    monkeypatch.setattr(objectstore, "CHUNK_WORKERS", 2)
    block = mixed_data(2 << 20, seed=2)
    data = block + block + mixed_data(2 << 20, seed=3)  # a repeated 2 MiB stretch
    with store.writer() as w:
        oid, _ = w.put_file(io.BytesIO(data), len(data))
        first_written = w.objects_written
    chunk_ids = [cid for cid, _ in ChunkList.decode(store.get_raw(oid)[1]).chunks]
    assert first_written == len(set(chunk_ids)) + 1 < len(chunk_ids) + 1

    compressed: list[int] = []
    real_compress = objectstore.compress

    def counting_compress(raw: bytes) -> tuple[int, bytes | memoryview]:
        compressed.append(len(raw))
        return real_compress(raw)

    monkeypatch.setattr(objectstore, "compress", counting_compress)
    edited = bytearray(data)
    edited[3 << 20 : (3 << 20) + 4096] = random.Random(4).randbytes(4096)
    with store.writer() as w:
        new_id, _ = w.put_file(io.BytesIO(bytes(edited)), len(edited))
        new_chunks = w.objects_written - 1
    assert 1 <= new_chunks <= 3  # one edit touches one or two chunks (rarely three)
    assert len(compressed) == new_chunks + 1  # and the new chunk list
    assert store.read_file_content(new_id) == bytes(edited)
    assert store.read_file_content(oid) == data


class FailingStream(io.RawIOBase):
    """A file whose reads fail after ``good`` bytes (a disk error, a vanished mount)."""

    def __init__(self, data: bytes, good: int) -> None:
        self.data, self.good, self.pos = data, good, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.pos >= self.good:
            raise OSError(5, "Input/output error")
        n = min(len(buffer), self.good - self.pos, 256 << 10)
        buffer[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


def test_failure_mid_file_leaves_no_file_object(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read error part-way through a large file propagates; the aborted batch indexes
    nothing (no chunk list, no chunk), leaves no temporary pack and no running thread."""
    monkeypatch.setattr(objectstore, "CHUNK_WORKERS", 2)
    data = mixed_data(8 << 20, seed=5)
    store = ObjectStore(store_dir)
    try:
        with pytest.raises(OSError, match="Input/output error"), store.writer() as w:
            w.put_file(FailingStream(data, good=5 << 20), len(data))  # type: ignore[arg-type]
        assert store.index.count() == 0
    finally:
        store.close()
    assert list((store_dir / "tmp").iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("dvault-chunk")]

    reopened = ObjectStore(store_dir)  # nothing sealed either: reopening indexes nothing
    try:
        assert reopened.index.count() == 0
        with reopened.writer() as w:  # the same writer code then stores the whole file
            oid, size = w.put_file(io.BytesIO(data), len(data))
        assert (oid, size) == hash_stream(io.BytesIO(data), len(data))
        assert reopened.read_file_content(oid) == data
    finally:
        reopened.close()


def test_concurrent_large_files_share_the_pool(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads storing large files through one writer (as add's threads do) share its
    chunk pool; each file keeps its own id and reads back exactly."""
    monkeypatch.setattr(objectstore, "CHUNK_WORKERS", 2)
    files = [mixed_data(4 << 20, seed=10 + i) for i in range(2)]
    ids: dict[int, tuple[ObjectId, int]] = {}
    with store.writer() as w:

        def put(i: int) -> None:
            ids[i] = w.put_file(io.BytesIO(files[i]), len(files[i]))

        threads = [threading.Thread(target=put, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for i, data in enumerate(files):
        assert ids[i] == hash_stream(io.BytesIO(data), len(data))
        assert store.read_file_content(ids[i][0]) == data


def test_status_hashes_a_large_file_on_the_pool_as_add_stores_it(
    tmp_path: Path, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status's ``hash_many`` hashes a large file's chunks on pool threads while one thread
    cuts it (so one changed checkpoint uses every core), and gets the ids ``add`` stores,
    for large and small files alike."""
    import dvault.content as content
    import dvault.workspace.status as status_mod
    from dvault.workspace.scan import walk

    project = tmp_path / "project"
    (project / "d").mkdir(parents=True)
    files = {
        b"d/big.bin": mixed_data(6 << 20, seed=20),
        b"d/mid.bin": mixed_data(3 << 20, seed=21),
        b"d/small.txt": b"labels\n",
    }
    for rel, data in files.items():
        (project / rel.decode()).write_bytes(data)
    hashing_threads: set[int] = set()
    real = content._hash_one

    def recording(data: content.Data) -> tuple[content.Data, ObjectId]:
        hashing_threads.add(threading.get_ident())
        return real(data)

    cutting_threads: set[int] = set()
    real_read = status_mod.read_entry

    def reading(*args: Any) -> StageEntry:
        cutting_threads.add(threading.get_ident())
        return real_read(*args)

    monkeypatch.setattr(content, "_hash_one", recording)
    monkeypatch.setattr(status_mod, "read_entry", reading)
    found = status_mod.hash_many(project, list(walk(project, b"d", None).items()))
    assert found.keys() == files.keys()
    with store.writer() as w:
        for rel, data in files.items():
            assert (found[rel].id, found[rel].size) == w.put_file(io.BytesIO(data), len(data))
    assert hashing_threads, "chunks were hashed"
    assert not hashing_threads & cutting_threads  # on the pool, not the cutting thread


def test_hash_many_of_one_small_file_stays_on_this_thread(tmp_path: Path) -> None:
    """No pool for a single small file: its cost is one read and one hash."""
    from dvault.workspace.scan import walk
    from dvault.workspace.status import hash_many

    (tmp_path / "a.txt").write_bytes(b"x")
    before = threading.active_count()
    found = hash_many(tmp_path, list(walk(tmp_path, b"a.txt", None).items()))
    assert found[b"a.txt"].id == object_id(ObjectType.BLOB, b"x")
    assert threading.active_count() == before


def test_a_changed_checkpoint_is_re_cut_along_its_stored_chunks(
    repo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status and add of a large file with a 4 KiB change re-cut it along the chunk list
    it was staged with (cutting only around the change), and record what a full cut
    records: the same file id, the same chunks, readable back."""
    import dvault.rechunk as rechunk_mod

    path = repo.root / "model.pt"
    old = mixed_data(12 << 20, seed=30)
    path.write_bytes(old)
    repo.add([path])
    repo.commit("base")
    new = bytearray(old)
    new[5 << 20 : (5 << 20) + 4096] = random.Random(31).randbytes(4096)
    path.write_bytes(bytes(new))

    fresh: list[int] = []
    real = rechunk_mod.object_id  # rechunk hashes only the chunks it cuts anew itself

    def counting(kind: ObjectType, data: Any) -> ObjectId:
        fresh.append(len(data))
        return real(kind, data)

    monkeypatch.setattr(rechunk_mod, "object_id", counting)
    chunks = chunk_bytes(bytes(new))
    expected = ChunkList(tuple((object_id(ObjectType.BLOB, c), len(c)) for c in chunks))
    status = repo.status()
    assert status.modified == [b"model.pt"]
    assert status.workspace[b"model.pt"].id == object_id(ObjectType.CHUNKS, expected.encode())
    assert 1 <= len(fresh) <= 3, fresh  # status cut only around the change
    fresh.clear()
    path.touch()  # new stat: add reads it again rather than trusting status's hash
    repo.add([path])
    assert 1 <= len(fresh) <= 3, fresh
    entry = repo.state.stage_get(b"model.pt")
    assert entry.id == object_id(ObjectType.CHUNKS, expected.encode())
    assert repo.store.read_file_content(entry.id) == bytes(new)
