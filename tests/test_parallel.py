"""Worker processes that store many files (dvault/workspace/parallel.py)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from dvault.content import hash_stream
from dvault.errors import StorageError
from dvault.repo import Repo
from dvault.workspace.parallel import StoreWorkers
from dvault.workspace.scan import walk
from dvault.workspace.staging import PROCESS_MIN_FILES


def _make_files(root: Path, count: int) -> dict[str, bytes]:
    rng = random.Random(7)
    contents: dict[str, bytes] = {}
    for i in range(count):
        data = rng.randbytes(rng.randint(0, 3000)) if i % 10 else b"same content"
        contents[f"data/d{i % 17}/f{i}.bin"] = data
    contents["data/big.bin"] = rng.randbytes(3 << 20)  # chunked
    for rel, data in contents.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return contents


def test_many_files_are_stored_by_workers_and_indexed(tmp_path: Path) -> None:
    """An add of more than PROCESS_MIN_FILES files stores every byte and indexes the packs."""
    contents = _make_files(tmp_path, PROCESS_MIN_FILES + 200)
    with Repo.init(tmp_path) as repo:
        report = repo.add([tmp_path / "data"])
        assert report.added == len(contents)
        stage = repo.state.stage()
        for rel, data in contents.items():
            entry = stage[rel.encode()]
            assert repo.store.read_file_content(entry.id) == data
            with open(tmp_path / rel, "rb") as f:
                assert hash_stream(f, len(data))[0] == entry.id
        indexed = set(repo.store.index.pack_names.values())
        assert indexed == set(repo.store.pack_files())
        repo.commit("many files")
        assert repo.status().clean


def test_worker_failure_is_one_clear_error(tmp_path: Path) -> None:
    """A path that cannot be read fails the store with its name; no temp pack is left
    and nothing of the failed batch reaches the stage."""
    _make_files(tmp_path, 20)
    with Repo.init(tmp_path) as repo:
        todo = list(walk(tmp_path, b"data", None).items())
        victim = todo[3][0]
        os.unlink(tmp_path / os.fsdecode(victim))
        (tmp_path / os.fsdecode(victim)).mkdir()  # a directory where a file was
        applied: list[object] = []
        workers = StoreWorkers(repo, 2, applied.extend, lambda _n: None)
        try:
            with pytest.raises(StorageError, match=os.fsdecode(victim)):
                workers.submit(todo, {})
                workers.finish()
        finally:
            workers.close()
        assert not list((repo.dir / "tmp").glob("*.tmp"))
        assert applied == []
