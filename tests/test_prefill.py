"""A clone writes its files from the bytes the fetch verifies (workspace/prefill.py): every
regular file of the checkout comes from the packs as they are checked, byte for byte and
mode for mode; what cannot come that way (links, empty folders, damaged objects) is still
written by the checkout; a killed clone's scratch files do not outlive the next checkout."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dvault import config as cfg
from dvault.hashing import ObjectId
from dvault.ops.sync import clone
from dvault.remote import fetch
from dvault.remote.backend import RemoteSpec
from dvault.remote.fetch import CheckPack, fetch_view
from dvault.remote.push import push
from dvault.remote.session import Remote, pick_remote
from dvault.repo import Repo
from dvault.repository import Repository
from dvault.trees import diff_trees
from dvault.workspace import prefill as prefill_module
from dvault.workspace.prefill import Prefill

CHUNKED = 3 << 20  # above CHUNK_THRESHOLD: stored as a chunk list


def _tree_files(root: Path) -> dict[str, tuple[str, bool]]:
    """Every file under data/ (links as their target): digest and whether executable."""
    found = {}
    for dirpath, _dirs, files in os.walk(root / "data"):
        for name in files:
            path = Path(dirpath, name)
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[key] = ("link:" + os.readlink(path), False)
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[key] = (digest, os.access(path, os.X_OK))
    return found


@pytest.fixture(autouse=True)
def _prefill_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """These projects are small: prefill them anyway (one test turns this back)."""
    monkeypatch.setattr(prefill_module, "MIN_FILES", 0)


@pytest.fixture
def pushed(tmp_path: Path) -> Iterator[tuple[Repo, Path]]:
    """Small files (some identical), an empty one, an executable, a symlink, an empty
    folder, and chunked files sharing chunks with each other and within themselves."""
    repo = Repo.init(tmp_path / "proj")
    data = repo.root / "data"
    for i in range(60):
        path = data / f"d{i % 4}" / f"f{i:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"same\n" if i % 10 == 0 else os.urandom(16 + i * 37))
    (data / "empty.txt").write_bytes(b"")
    (data / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (data / "run.sh").chmod(0o755)
    (data / "link").symlink_to("d0/f000.bin")
    (data / "hollow").mkdir()
    half = os.urandom(CHUNKED // 2)
    (data / "model.bin").write_bytes(half + half)  # a chunk repeated within the file
    (data / "model2.bin").write_bytes(half + os.urandom(CHUNKED // 2))  # shared with model
    repo.add([data])
    repo.commit("v1")
    repo.add_remote("nas", str(tmp_path / "nas"), init=True)
    push(repo, pick_remote(repo, "nas"), ["main"])
    try:
        yield repo, tmp_path / "nas"
    finally:
        repo.close()


def test_clone_restores_every_file_and_leaves_no_scratch(
    pushed: tuple[Repo, Path], tmp_path: Path
) -> None:
    """The clone has every file, link, mode and the empty folder, a clean status, and
    nothing left under .dvault/tmp of the scratch files it was written from."""
    repo, remote = pushed
    dest = tmp_path / "copy"
    clone(str(remote), dest)
    assert _tree_files(dest) == _tree_files(repo.root)
    assert (dest / "data" / "hollow").is_dir()
    assert not list((dest / ".dvault" / "tmp").glob(f"{prefill_module.SCRATCH_PREFIX}*"))
    with Repo.open(dest) as copy:
        status = copy.status()
        assert not (status.modified or status.untracked or status.deleted or status.staged)


def test_a_small_clone_starts_no_workers_and_restores_the_same(
    pushed: tuple[Repo, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below MIN_FILES and MIN_BYTES the worker processes cost more than they save: the
    plan says so, nothing is prefilled, and the checkout writes the same files."""
    monkeypatch.setattr(prefill_module, "MIN_FILES", 1000)
    repo, remote = pushed
    with Repository.open(repo.root) as source:
        _, head = source.refs.head()
        assert head is not None
        tree = source.read_commit(head).tree
        planned = Prefill(source, tree, None)
        assert not planned.worth and planned.planned_files < 1000
        assert not planned.scratch.exists()
        planned.close()
    dest = tmp_path / "small"
    clone(str(remote), dest)
    assert _tree_files(dest) == _tree_files(repo.root)


def _fetch_with_prefill(remote_dir: Path, dest: Path) -> tuple[Repository, Prefill, ObjectId]:
    """Fetch everything into a fresh repository through a Prefill, as clone does."""
    repo = Repository.init(dest, at_git_root=False)
    spec = RemoteSpec("origin", str(remote_dir), None, None, None, None, False, None)
    config = cfg.load(repo.dir / "config")
    config.setdefault("remote", {})["origin"] = spec.to_config()
    cfg.save(repo.dir / "config", config)
    repo.reload_config()
    remote = Remote(repo, spec)
    view = remote.log.load()
    tip = ObjectId(bytes.fromhex(view.refs["refs/heads/main"]))
    made: list[Prefill] = []

    def plan() -> CheckPack:
        made.append(Prefill(repo, repo.read_commit(tip).tree, None))
        return made[0].check

    fetch_view(repo, remote, view, None, None, True, before_data=plan)
    made[0].stop()
    return repo, made[0], tip


def test_every_regular_file_is_written_from_the_checked_packs(
    pushed: tuple[Repo, Path], tmp_path: Path
) -> None:
    """Through the fetch, each regular file's scratch file is finished with exactly its
    committed bytes and mode; links and folders are left to the checkout."""
    source, remote = pushed
    repo, prefill, tip = _fetch_with_prefill(remote, tmp_path / "copy")
    try:
        regular = 0
        for number, change in enumerate(diff_trees(repo.store, None, repo.read_commit(tip).tree)):
            assert change.new is not None
            scratch = prefill.take(number)
            if change.new.is_link or change.new.is_dir:
                assert scratch is None
                continue
            regular += 1
            assert scratch is not None, change.path
            original = source.root / os.fsdecode(change.path)
            assert Path(os.fsdecode(scratch)).read_bytes() == original.read_bytes()
            assert os.access(scratch, os.X_OK) == os.access(original, os.X_OK)
        assert regular == 64
    finally:
        prefill.close()
        repo.close()
    assert not prefill.scratch.exists()


def test_files_of_packs_read_in_part_are_written_by_the_checkout(
    pushed: tuple[Repo, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Objects read by range from packs not downloaded whole are not checked by the
    prefill: those files are written by the checkout, from the store, just as well."""
    repo, remote = pushed
    monkeypatch.setattr(fetch, "WHOLE_PACK_SHARE", 2.0)  # no pack is downloaded whole
    dest = tmp_path / "copy"
    report = clone(str(remote), dest)
    assert report.written == 65  # 64 files and the link (the folder is made, not written)
    assert _tree_files(dest) == _tree_files(repo.root)


def test_a_killed_clones_scratch_files_go_with_the_next_checkout(
    pushed: tuple[Repo, Path], tmp_path: Path
) -> None:
    """Scratch files under .dvault/tmp left by a clone killed mid-fetch are deleted by
    the next checkout (they are nobody's: the clone that made them is gone)."""
    _, remote = pushed
    dest = tmp_path / "copy"
    clone(str(remote), dest)
    stale = dest / ".dvault" / "tmp" / f"{prefill_module.SCRATCH_PREFIX}1-deadbeef" / "0"
    stale.mkdir(parents=True)
    (stale / "0").write_bytes(b"left by a killed clone")
    with Repo.open(dest) as copy:
        (dest / "data" / "empty.txt").write_bytes(b"edited")
        copy.checkout("main", paths=[str(dest / "data" / "empty.txt")], force=True)
    assert not stale.parent.exists()
    assert (dest / "data" / "empty.txt").read_bytes() == b""
