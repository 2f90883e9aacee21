"""``add``: tracked roots, what the stage records, and when files are (not) read."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import dvault.workspace.staging as staging_mod
from dvault.content import hash_stream
from dvault.errors import PathOutsideRepository, UsageError
from dvault.hashing import ObjectType, object_id
from dvault.ops.tracking import guess_kind
from dvault.repo import Repo
from dvault.store.state import FileStat, StageEntry
from dvault.treeobjects import MODE_DIR, MODE_EXEC, MODE_FILE, MODE_LINK
from dvault.trees import EMPTY_TREE, flatten
from dvault.workspace.staging import store_path


def write(path: Path, data: bytes) -> Path:
    """Write ``path`` with an mtime 10 s in the past (not racy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    st = os.lstat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 10_000_000_000))
    return path


def file_stat(path: Path, mode: int = MODE_FILE) -> FileStat:
    return FileStat.of(os.lstat(path), mode)


@pytest.fixture
def stored(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every path that add opens and stores, in call order."""
    calls: list[bytes] = []
    real: Callable[..., StageEntry] = staging_mod.store_path

    def counting(root: bytes, writer: object, path: bytes, *rest: object) -> StageEntry:
        calls.append(path)
        return real(root, writer, path, *rest)

    monkeypatch.setattr(staging_mod, "store_path", counting)
    return calls


def test_add_stages_every_file_with_its_content(repo: Repo) -> None:
    """Each file under an added directory is staged with the id of its bytes, and the bytes
    can be read back from the store."""
    files = {"data/a.csv": b"1,2,3\n", "data/x/y/b.bin": os.urandom(5000), "data/empty.txt": b""}
    for rel, data in files.items():
        write(repo.root / rel, data)
    report = repo.add([repo.root / "data"])
    assert (report.added, report.modified, report.deleted, report.unchanged) == (3, 0, 0, 0)
    assert report.bytes_read == sum(len(d) for d in files.values())
    stage = repo.state.stage()
    assert sorted(stage) == sorted(os.fsencode(r) for r in files)
    for rel, data in files.items():
        entry = stage[os.fsencode(rel)]
        assert entry.id == object_id(ObjectType.BLOB, data)
        assert (entry.mode, entry.size) == (MODE_FILE, len(data))
        assert repo.store.read_file_content(entry.id) == data


def test_add_records_stat_data(repo: Repo) -> None:
    """A file added while nobody writes to it keeps its stat data, so status need not read it."""
    f = write(repo.root / "data/a", b"abc")
    repo.add([repo.root / "data"])
    entry = repo.state.stage_get(b"data/a")
    assert entry is not None and entry.matches(file_stat(f))


def test_large_file_is_chunked_and_restorable(repo: Repo) -> None:
    """A file above the chunking threshold gets the same id status computes, and reads back."""
    data = os.urandom(3 << 20)
    f = write(repo.root / "ckpt/model.bin", data)
    repo.add([repo.root / "ckpt"])
    entry = repo.state.stage_get(b"ckpt/model.bin")
    assert entry is not None
    with open(f, "rb") as fh:
        assert (entry.id, entry.size) == hash_stream(fh, len(data))
    assert repo.store.read_file_content(entry.id) == data


def test_add_stages_exec_bits_symlinks_and_empty_dirs(repo: Repo) -> None:
    """Modes are recorded: executable, symlink (its target, not followed), empty directory."""
    write(repo.root / "data/run.sh", b"#!/bin/sh\n").chmod(0o755)
    os.symlink("run.sh", repo.root / "data/link")
    (repo.root / "data/empty").mkdir()
    repo.add([repo.root / "data"])
    stage = repo.state.stage()
    assert stage[b"data/run.sh"].mode == MODE_EXEC
    link = stage[b"data/link"]
    assert (link.mode, link.size, link.id) == (MODE_LINK, 6, object_id(ObjectType.BLOB, b"run.sh"))
    assert stage[b"data/empty"][:3] == (MODE_DIR, 0, EMPTY_TREE)


def test_stage_tree_matches_the_stage(repo: Repo) -> None:
    """The stage's Merkle tree, written by add, lists exactly the staged paths and ids."""
    write(repo.root / "data/a", b"a")
    write(repo.root / "data/sub/b", b"b")
    repo.add([repo.root / "data"])
    root = repo.state.stage_tree()
    assert root is not None
    tree = flatten(repo.store, root)
    stage = repo.state.stage()
    assert {p: (e.mode, e.id) for p, e in tree.items()} == {
        p: (e.mode, e.id) for p, e in stage.items()
    }


def test_unchanged_files_are_not_reopened(repo: Repo, stored: list[bytes]) -> None:
    """Re-adding an unchanged directory opens no file; only the edited file is read again."""
    write(repo.root / "data/a", b"a")
    write(repo.root / "data/b", b"b")
    repo.add([repo.root / "data"])
    assert sorted(stored) == [b"data/a", b"data/b"]
    stored.clear()
    report = repo.add([repo.root / "data"])
    assert (report.unchanged, report.added, report.modified) == (2, 0, 0)
    assert stored == []
    write(repo.root / "data/b", b"b2")
    report = repo.add([repo.root / "data"])
    assert (report.unchanged, report.modified) == (1, 1)
    assert stored == [b"data/b"]


def test_add_records_deletions_under_the_scope(repo: Repo) -> None:
    """Adding a directory drops staged files that no longer exist under it, nothing else."""
    write(repo.root / "data/a", b"a")
    write(repo.root / "data/b", b"b")
    write(repo.root / "other/c", b"c")
    repo.add([repo.root / "data", repo.root / "other"])
    (repo.root / "data/a").unlink()
    (repo.root / "other/c").unlink()
    report = repo.add([repo.root / "data"])
    assert report.deleted == 1
    assert sorted(repo.state.stage()) == [b"data/b", b"other/c"]


def test_add_of_a_deleted_tracked_file_stages_the_deletion(repo: Repo) -> None:
    """``add PATH`` of a tracked file that was removed stages its removal (like git add)."""
    write(repo.root / "data/a", b"a")
    write(repo.root / "data/b", b"b")
    repo.add([repo.root / "data"])
    (repo.root / "data/a").unlink()
    repo.add([repo.root / "data/a"])
    assert sorted(repo.state.stage()) == [b"data/b"]


def test_add_missing_path_is_a_usage_error(repo: Repo) -> None:
    """Adding a path that does not exist fails with a usage error and changes nothing."""
    write(repo.root / "data/a", b"a")
    with pytest.raises(UsageError, match="does not exist"):
        repo.add([repo.root / "data", repo.root / "nope"])
    assert repo.state.stage() == {}
    assert repo.roots() == {}


def test_add_missing_path_under_a_root_is_a_usage_error(repo: Repo) -> None:
    """A never-tracked, non-existent path inside a root is refused, naming the path."""
    write(repo.root / "data/a", b"a")
    repo.add([repo.root / "data"])
    with pytest.raises(UsageError, match="data/typo"):
        repo.add([repo.root / "data/typo"])


def test_add_of_a_deleted_directory_stages_its_deletion(repo: Repo) -> None:
    """A removed directory whose files are staged can be added (its files leave the stage);
    a staged sibling that merely shares its name's prefix does not make a typo valid."""
    write(repo.root / "data/sub/a", b"a")
    write(repo.root / "data/sub/deep/b", b"b")
    write(repo.root / "data/sub.txt", b"sibling")
    repo.add([repo.root / "data"])
    for path in ("data/sub/deep/b", "data/sub/a"):
        (repo.root / path).unlink()
    (repo.root / "data/sub/deep").rmdir()
    (repo.root / "data/sub").rmdir()
    report = repo.add([repo.root / "data/sub"])
    assert report.deleted == 2
    assert sorted(repo.state.stage()) == [b"data/sub.txt"]
    with pytest.raises(UsageError, match="data/su"):
        repo.add([repo.root / "data/su"])


def test_add_refuses_project_root_and_outside_paths(repo: Repo, tmp_path: Path) -> None:
    """The whole project, paths outside it and paths inside .dvault cannot be tracked."""
    with pytest.raises(UsageError, match="whole project"):
        repo.add([repo.root])
    outside = write(tmp_path / "outside.txt", b"x")
    with pytest.raises(PathOutsideRepository):
        repo.add([outside])
    with pytest.raises(PathOutsideRepository):
        repo.add([repo.root / ".dvault" / "config"])


def test_add_records_roots_with_guessed_or_given_kind(repo: Repo) -> None:
    """New roots get a guessed kind unless one is given; a bad kind is refused."""
    write(repo.root / "images/1.png", b"png")
    write(repo.root / "labels/1.json", b"{}")
    write(repo.root / "model.safetensors", b"w")
    write(repo.root / "gen/make.py", b"print()")
    repo.add([repo.root / "images", repo.root / "labels", repo.root / "model.safetensors"])
    repo.add([repo.root / "gen"], kind="generator")
    assert repo.roots() == {
        "images": "dataset",
        "labels": "labels",
        "model.safetensors": "checkpoint",
        "gen": "generator",
    }
    with pytest.raises(UsageError, match="unknown kind"):
        repo.add([repo.root / "gen"], kind="weights")
    repo.add([repo.root / "images"], kind="features")
    assert repo.roots()["images"] == "features"


def test_add_inside_a_root_does_not_create_a_root(repo: Repo) -> None:
    """Adding a path under an existing root stages it without adding a new root."""
    write(repo.root / "data/a", b"a")
    repo.add([repo.root / "data"])
    write(repo.root / "data/sub/b", b"b")
    repo.add([repo.root / "data/sub"])
    assert repo.roots() == {"data": "dataset"}
    assert sorted(repo.state.stage()) == [b"data/a", b"data/sub/b"]


def test_add_subsumes_inner_roots(repo: Repo) -> None:
    """Adding a parent of existing roots replaces them with one root and keeps their files."""
    write(repo.root / "data/train/a", b"a")
    write(repo.root / "data/val/b", b"b")
    write(repo.root / "data/test/c", b"c")
    repo.add([repo.root / "data/train", repo.root / "data/val"], kind="labels")
    assert set(repo.roots()) == {"data/train", "data/val"}
    with pytest.raises(UsageError, match="losing the kind labels"):
        repo.add([repo.root / "data"])  # labels -> dataset: only when asked
    assert set(repo.roots()) == {"data/train", "data/val"}
    repo.add([repo.root / "data"], replace_roots=True)
    assert repo.roots() == {"data": "dataset"}
    assert sorted(repo.state.stage()) == [b"data/test/c", b"data/train/a", b"data/val/b"]


def test_add_respects_dvaultignore(repo: Repo) -> None:
    """Ignored files are not stored or staged."""
    (repo.root / ".dvaultignore").write_text("*.tmp\n")
    write(repo.root / "data/a", b"a")
    write(repo.root / "data/b.tmp", b"b")
    repo.add([repo.root / "data"])
    assert list(repo.state.stage()) == [b"data/a"]


def test_file_changed_while_being_added_keeps_no_stat_data(repo: Repo) -> None:
    """If a file's stat differs from the one walked (it grew while read), its entry keeps no
    stat data, so status re-reads it instead of trusting a stale stat."""
    f = write(repo.root / "data/a", b"first part")
    walked = file_stat(f)
    with open(f, "ab") as fh:
        fh.write(b" and more written during add")
    with repo.store.writer() as writer:
        entry = store_path(os.fsencode(repo.root), writer, b"data/a", walked, None)
    now = f.read_bytes()
    assert (entry.id, entry.size) == (object_id(ObjectType.BLOB, now), len(now))
    assert (entry.mtime_ns, entry.ctime_ns, entry.ino, entry.cached_at) == (0, 0, 0, 0)
    assert not entry.matches(file_stat(f))
    assert repo.store.read_file_content(entry.id) == now


def test_file_stat_changed_same_size_keeps_no_stat_data(repo: Repo) -> None:
    """A walked stat whose mtime no longer matches the file (rewritten in place, same size)
    also yields an entry without stat data."""
    f = write(repo.root / "data/a", b"0123456789")
    walked = file_stat(f)._replace(mtime_ns=file_stat(f).mtime_ns - 1)
    with repo.store.writer() as writer:
        entry = store_path(os.fsencode(repo.root), writer, b"data/a", walked, None)
    assert entry.id == object_id(ObjectType.BLOB, b"0123456789")
    assert entry.cached_at == 0
    assert not entry.matches(file_stat(f))


def test_store_path_of_a_vanished_file_is_a_storage_error(repo: Repo) -> None:
    """A file removed between the walk and the read is one clear error naming the path."""
    from dvault.errors import StorageError

    f = write(repo.root / "data/a", b"a")
    walked = file_stat(f)
    f.unlink()
    with repo.store.writer() as writer, pytest.raises(StorageError, match="data/a"):
        store_path(os.fsencode(repo.root), writer, b"data/a", walked, None)


@pytest.mark.parametrize(
    ("path", "is_file", "kind"),
    [
        ("model.pt", True, "checkpoint"),
        ("weights/final.safetensors", True, "checkpoint"),
        ("checkpoints", False, "checkpoint"),
        ("runs/ckpt-100", False, "checkpoint"),
        ("models", False, "checkpoint"),  # issue 21: was recorded as a dataset
        ("out/best_model", False, "checkpoint"),
        ("weights", False, "checkpoint"),
        ("data/modelnet40", False, "dataset"),  # a dataset named after models
        ("Labels", False, "labels"),
        ("coco/annotations", False, "labels"),
        ("images", False, "dataset"),
        ("data.pt", False, "dataset"),  # a directory named like a checkpoint file
        ("table.csv", True, "dataset"),
    ],
)
def test_guess_kind(path: str, is_file: bool, kind: str) -> None:
    """Kinds are guessed from the name: checkpoint suffixes (files only), model words in
    the last name, label words."""
    assert guess_kind(path, is_file) == kind
