"""Worker processes that store many files (dvault/workspace/parallel.py)."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from dvault.content import hash_stream
from dvault.errors import NothingToCommit, StorageError, UsageError
from dvault.maintenance.gc import collect
from dvault.repo import Repo
from dvault.trees import build_from_stage, flatten
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


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch sizes small enough that a ~1,200-file add scans, stores, reports and stages
    in many batches (the sizes a million-file add uses are thousands of times larger)."""
    import dvault.workspace.parallel as parallel
    import dvault.workspace.scan as scan
    import dvault.workspace.staging as staging

    monkeypatch.setattr(scan, "SINK_FILES", 50)
    monkeypatch.setattr(staging, "TASK_FILES", 100)
    monkeypatch.setattr(parallel, "REPORT_FILES", 250)  # passed to the workers
    monkeypatch.setattr(staging, "STAGE_BATCH", 300)


def _stage_matches_tree(repo: Repo) -> None:
    stage = repo.state.stage()
    tree = repo.state.stage_tree()
    assert tree is not None
    assert tree == build_from_stage(stage)[0]  # the canonical tree of exactly this stage
    assert {p: (e.mode, e.id) for p, e in flatten(repo.store, tree).items()} == {
        p: (e.mode, e.id) for p, e in stage.items()
    }


@pytest.mark.usefixtures("small_batches")
def test_batched_add_stages_indexes_and_checks_out_everything(tmp_path: Path) -> None:
    """An add written to the stage in several batches, from several worker reports, ends
    with the same stage, index and tree as one written at once, and checks out intact."""
    contents = _make_files(tmp_path, PROCESS_MIN_FILES + 200)
    with Repo.init(tmp_path) as repo:
        report = repo.add([tmp_path / "data"])
        assert report.added == len(contents)
        stage = repo.state.stage()
        assert set(stage) == {rel.encode() for rel in contents}
        for rel, data in contents.items():
            assert repo.store.read_file_content(stage[rel.encode()].id) == data
        indexed = set(repo.store.index.pack_names.values())
        assert indexed == set(repo.store.pack_files())
        assert len(indexed) > 4  # each worker report is a pack of its own
        _stage_matches_tree(repo)
        first = repo.commit("v1")
        assert repo.status().clean

        shutil.rmtree(tmp_path / "data")
        repo.add([tmp_path / "data"])  # the deletions, in one batch
        assert repo.state.stage() == {}
        repo.commit("gone")
        repo.checkout(first.hex())
        for rel, data in contents.items():
            assert (tmp_path / rel).read_bytes() == data
        assert repo.status().clean


@pytest.mark.usefixtures("small_batches")
@pytest.mark.parametrize("edits_max", [100_000, 500])
def test_batched_re_add_updates_or_rebuilds_the_stage_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edits_max: int
) -> None:
    """A second batched add (changes, new files, deletions) leaves a stage tree equal to
    the stage's canonical tree, whether it was updated in place (few edits) or rebuilt
    from the stage cursor (more than EDITS_MAX)."""
    import dvault.workspace.staging as staging

    monkeypatch.setattr(staging, "EDITS_MAX", edits_max)
    contents = _make_files(tmp_path, PROCESS_MIN_FILES + 200)
    with Repo.init(tmp_path) as repo:
        repo.add([tmp_path / "data"])
        names = sorted(contents)
        for rel in names[:700]:
            (tmp_path / rel).write_bytes(b"changed " + rel.encode())
        for rel in names[700:760]:
            (tmp_path / rel).unlink()
        for i in range(400):
            (tmp_path / f"data/new/n{i}.bin").parent.mkdir(exist_ok=True)
            (tmp_path / f"data/new/n{i}.bin").write_bytes(b"new %d" % i)
        report = repo.add([tmp_path / "data"])
        assert (report.added, report.modified, report.deleted) == (400, 700, 60)
        _stage_matches_tree(repo)
        stage = repo.state.stage()
        assert repo.store.read_file_content(stage[names[0].encode()].id).startswith(b"changed")
        repo.commit("v2")
        assert repo.status().clean


def test_an_add_interrupted_between_stage_batches_is_finished_by_the_next(
    tmp_path: Path,
) -> None:
    """What a kill between two stage batches leaves (entries written, the stage's tree id
    forgotten): commit and gc refuse instead of using a stale tree, and the next add
    rebuilds the tree from the stage."""
    contents = _make_files(tmp_path, 30)
    with Repo.init(tmp_path) as repo:
        repo.add([tmp_path / "data"])
        staged = list(repo.state.stage().items())
        repo.state.update_stage(delete=[p for p, _ in staged])
        repo.state.update_stage(put=staged[:10], forget_tree=True)  # the first batch
        assert repo.state.stage_tree() is None
        with pytest.raises(NothingToCommit):
            repo.commit("half an add")
        with pytest.raises(UsageError, match="interrupted"):
            collect(repo)
        report = repo.add([tmp_path / "data"])
        # the 10 already staged may be re-read (written within the racy window) but are
        # neither added nor modified
        assert (report.added, report.modified) == (len(contents) - 10, 0)
        _stage_matches_tree(repo)
        repo.commit("whole")
        assert repo.status().clean
