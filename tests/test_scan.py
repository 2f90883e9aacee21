"""The workspace walk: what counts as data, .dvaultignore, and the stat comparison of status."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

from dvault.hashing import ObjectType, object_id
from dvault.store.state import RACY_NS, FileStat, StageEntry, WorkspaceState
from dvault.treeobjects import MODE_DIR, MODE_EXEC, MODE_FILE, MODE_LINK
from dvault.trees import EMPTY_TREE
from dvault.workspace.scan import DirectoryScanner, Found, Ignore, load_ignore, under, walk


def write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def settled(path: Path) -> None:
    """Give ``path`` an mtime well in the past, as if it had not changed for a while."""
    st = os.lstat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 10_000_000_000), follow_symlinks=False)


def stat_of(path: Path) -> FileStat:
    st = os.lstat(path)
    mode = MODE_LINK if path.is_symlink() else (MODE_EXEC if st.st_mode & 0o111 else MODE_FILE)
    if path.is_dir() and not path.is_symlink():
        mode = MODE_DIR
    return FileStat.of(st, mode)


def entry_for(path: Path, cached_after_ns: int = 2 * RACY_NS, **changes: int) -> bytes:
    """A packed stage entry whose stat data matches ``path`` as it is now (not racy)."""
    fs = stat_of(path)
    data = b"" if fs.mode == MODE_DIR else path.read_bytes()
    oid = EMPTY_TREE if fs.mode == MODE_DIR else object_id(ObjectType.BLOB, data)
    entry = StageEntry(fs.mode, fs.size, oid, fs.mtime_ns, fs.ctime_ns, fs.ino)
    entry = entry._replace(cached_at=fs.mtime_ns + cached_after_ns)
    return entry._replace(**changes).pack()  # type: ignore[arg-type]  # int fields only


# -- walk ---------------------------------------------------------------------------------


def test_walk_lists_files_with_relative_bytes_paths(tmp_path: Path) -> None:
    """Every file under a root is found, keyed by its project-relative ``/`` path in bytes."""
    write(tmp_path / "data/a.txt", b"aaa")
    write(tmp_path / "data/sub/deeper/b.bin", b"bb")
    found = walk(tmp_path, b"data", None)
    assert sorted(found) == [b"data/a.txt", b"data/sub/deeper/b.bin"]
    assert found[b"data/a.txt"].size == 3
    assert found[b"data/a.txt"].mode == MODE_FILE
    assert found[b"data/a.txt"] == stat_of(tmp_path / "data/a.txt")


def test_walk_records_exec_bit(tmp_path: Path) -> None:
    """An executable file is recorded as MODE_EXEC, a plain one as MODE_FILE."""
    script = write(tmp_path / "data/run.sh", b"#!/bin/sh\n")
    script.chmod(0o755)
    write(tmp_path / "data/plain.txt")
    found = walk(tmp_path, b"data", None)
    assert found[b"data/run.sh"].mode == MODE_EXEC
    assert found[b"data/plain.txt"].mode == MODE_FILE


def test_walk_does_not_follow_symlinks(tmp_path: Path) -> None:
    """Symlinks (to files and to directories) are leaves; their targets are not walked."""
    write(tmp_path / "elsewhere/secret.txt")
    write(tmp_path / "data/real.txt")
    os.symlink("../elsewhere", tmp_path / "data/dirlink")
    os.symlink("real.txt", tmp_path / "data/filelink")
    os.symlink("missing", tmp_path / "data/dangling")
    found = walk(tmp_path, b"data", None)
    assert sorted(found) == [b"data/dangling", b"data/dirlink", b"data/filelink", b"data/real.txt"]
    for name in (b"data/dangling", b"data/dirlink", b"data/filelink"):
        assert found[name].mode == MODE_LINK
    assert found[b"data/dirlink"].size == len("../elsewhere")


def test_walk_reports_empty_directories_as_leaves(tmp_path: Path) -> None:
    """Empty directories are data (an empty class folder) and are listed as MODE_DIR leaves;
    non-empty directories are not listed themselves."""
    (tmp_path / "data/empty/inner").mkdir(parents=True)
    write(tmp_path / "data/full/f")
    found = walk(tmp_path, b"data", None)
    assert sorted(found) == [b"data/empty/inner", b"data/full/f"]
    assert found[b"data/empty/inner"].mode == MODE_DIR
    assert found[b"data/empty/inner"].size == 0


def test_walk_of_an_empty_root_lists_the_root(tmp_path: Path) -> None:
    """A tracked root that is an empty directory is itself an empty-directory leaf."""
    (tmp_path / "data").mkdir()
    assert list(walk(tmp_path, b"data", None)) == [b"data"]


def test_walk_of_a_single_file_and_a_missing_path(tmp_path: Path) -> None:
    """A root may be one file (a checkpoint); a missing root yields nothing."""
    write(tmp_path / "model.pt", b"weights")
    assert walk(tmp_path, b"model.pt", None) == {b"model.pt": stat_of(tmp_path / "model.pt")}
    assert walk(tmp_path, b"nope", None) == {}
    assert walk(tmp_path, b"model.pt/below", None) == {}


def test_walk_skips_repository_dirs_and_checkout_temp_files(tmp_path: Path) -> None:
    """``.dvault``, ``.git`` and interrupted-checkout temp files are never data."""
    write(tmp_path / "data/keep")
    write(tmp_path / "data/.git/config")
    write(tmp_path / "data/.dvault/HEAD")
    write(tmp_path / "data/.keep.1234abcd.dvault-tmp")
    assert list(walk(tmp_path, b"data", None)) == [b"data/keep"]


def test_walk_of_project_root_skips_dvault_and_git(tmp_path: Path) -> None:
    """Walking the whole project (empty rel) never descends into .dvault or .git."""
    write(tmp_path / ".dvault/packs/p")
    write(tmp_path / ".git/HEAD")
    write(tmp_path / "data/a")
    assert list(walk(tmp_path, b"", None)) == [b"data/a"]


def test_walk_skips_fifos_and_sockets(tmp_path: Path) -> None:
    """Fifos and sockets are not data: they are skipped, not read (reading a fifo blocks)."""
    write(tmp_path / "data/file")
    os.mkfifo(tmp_path / "data/pipe")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(tmp_path / "data/sock"))
        assert list(walk(tmp_path, b"data", None)) == [b"data/file"]
    finally:
        sock.close()


def test_walk_handles_non_utf8_names(tmp_path: Path) -> None:
    """File names are bytes on Linux; a name that is not UTF-8 is kept byte for byte."""
    (tmp_path / "data").mkdir()
    name = b"caf\xe9.txt"
    with open(os.path.join(os.fsencode(tmp_path), b"data", name), "wb") as f:
        f.write(b"latin-1")
    assert list(walk(tmp_path, b"data", None)) == [b"data/" + name]


def test_under() -> None:
    """``under`` matches the path itself and its descendants, not siblings sharing a prefix."""
    assert under(b"data", b"data")
    assert under(b"data/a/b", b"data")
    assert not under(b"data2/a", b"data")
    assert not under(b"dat", b"data")
    assert under(b"anything", b"")


# -- .dvaultignore ------------------------------------------------------------------------


def test_load_ignore_absent_returns_none(tmp_path: Path) -> None:
    """Without a .dvaultignore nothing is ignored (and no matcher is built)."""
    assert load_ignore(tmp_path) is None


def test_ignore_patterns_filter_the_walk(tmp_path: Path) -> None:
    """gitignore-style patterns in .dvaultignore leave matching files out."""
    (tmp_path / ".dvaultignore").write_text("*.tmp\n# a comment\n\n__pycache__\n")
    write(tmp_path / "data/a.csv")
    write(tmp_path / "data/b.tmp")
    write(tmp_path / "data/sub/c.tmp")
    write(tmp_path / "data/sub/d.csv")
    write(tmp_path / "data/__pycache__/x.pyc")
    found = walk(tmp_path, b"data", load_ignore(tmp_path))
    assert sorted(found) == [b"data/a.csv", b"data/sub/d.csv"]


def test_ignore_negation_keeps_a_file(tmp_path: Path) -> None:
    """A ``!pattern`` re-includes a file an earlier pattern excluded."""
    (tmp_path / ".dvaultignore").write_text("*.log\n!keep.log\n")
    write(tmp_path / "data/drop.log")
    write(tmp_path / "data/keep.log")
    found = walk(tmp_path, b"data", load_ignore(tmp_path))
    assert sorted(found) == [b"data/keep.log"]


def test_ignore_directory_pattern_matches_only_directories(tmp_path: Path) -> None:
    """``cache/`` excludes a directory named cache (and all below), not a file of that name."""
    (tmp_path / ".dvaultignore").write_text("cache/\n")
    write(tmp_path / "data/cache/big.bin")
    write(tmp_path / "data/sub/cache/more.bin")
    write(tmp_path / "data/sub/kept.bin")
    write(tmp_path / "data/other/cache")  # a file, not a directory
    ignore = load_ignore(tmp_path)
    assert ignore is not None
    assert ignore(b"data/cache", True)
    assert not ignore(b"data/other/cache", False)
    found = walk(tmp_path, b"data", ignore)
    assert sorted(found) == [b"data/other/cache", b"data/sub/kept.bin"]


def test_ignore_anchored_pattern(tmp_path: Path) -> None:
    """A pattern with a slash is anchored to the project root."""
    (tmp_path / ".dvaultignore").write_text("data/raw/\n")
    write(tmp_path / "data/raw/a")
    write(tmp_path / "data/x/data/raw/b")
    found = walk(tmp_path, b"data", load_ignore(tmp_path))
    assert sorted(found) == [b"data/x/data/raw/b"]


# -- the stat comparison (DirectoryScanner, without signatures) ------------------------------


def compare_with_stage(
    project: Path, roots: list[bytes], ignore: Ignore | None, stage: dict[bytes, bytes]
) -> tuple[Found, Found, list[bytes]]:
    """Scan ``roots`` against ``stage`` (packed entries) held in a fresh LMDB state."""
    with tempfile.TemporaryDirectory() as state_dir:
        state = WorkspaceState(Path(state_dir))
        with state.env.begin(write=True, db=state.stage_db) as txn:
            for path, raw in stage.items():
                txn.put(path, raw)
        with state.env.begin(db=state.stage_db) as txn:
            scanner = DirectoryScanner(project, txn, lambda _: None, ignore, b"")
            scanner.scan(roots)
        state.close()
    return scanner.suspects, scanner.untracked, sorted(scanner.deleted)


def test_compare_classifies_untracked_deleted_and_suspects(tmp_path: Path) -> None:
    """One pass sorts paths into unchanged (omitted), suspect, untracked and deleted."""
    same = write(tmp_path / "data/same", b"same")
    grown = write(tmp_path / "data/grown", b"old")
    write(tmp_path / "data/sub/new", b"new")
    settled(same)
    settled(grown)
    stage = {
        b"data/same": entry_for(same),
        b"data/grown": entry_for(grown),
        b"data/gone": entry_for(same),
        b"data/sub/gone2": entry_for(same),
    }
    grown.write_bytes(b"old and more")
    suspects, untracked, deleted = compare_with_stage(tmp_path, [b"data"], None, stage)
    assert [p for p, _ in suspects] == [b"data/grown"]
    assert dict(suspects)[b"data/grown"] == stat_of(grown)
    assert [p for p, _ in untracked] == [b"data/sub/new"]
    assert deleted == [b"data/gone", b"data/sub/gone2"]


@pytest.mark.parametrize("field", ["mtime_ns", "ctime_ns", "ino", "size", "mode"])
def test_compare_any_stat_difference_makes_a_suspect(tmp_path: Path, field: str) -> None:
    """A difference in any recorded stat field means the content must be re-checked."""
    f = write(tmp_path / "data/f", b"content")
    settled(f)
    real = StageEntry.unpack(entry_for(f))
    other = {"mode": MODE_EXEC}.get(field, getattr(real, field) + 1)
    stage = {b"data/f": entry_for(f, **{field: other})}
    suspects, untracked, deleted = compare_with_stage(tmp_path, [b"data"], None, stage)
    assert [p for p, _ in suspects] == [b"data/f"]
    assert (untracked, deleted) == ([], [])


def test_compare_racy_entry_is_a_suspect(tmp_path: Path) -> None:
    """An entry cached within RACY_NS of the file's mtime is not trusted, even if stat matches."""
    f = write(tmp_path / "data/f")
    settled(f)
    trusted = {b"data/f": entry_for(f, cached_after_ns=RACY_NS + 1)}
    assert compare_with_stage(tmp_path, [b"data"], None, trusted) == ([], [], [])
    for delta in (RACY_NS, 1, 0):
        racy = {b"data/f": entry_for(f, cached_after_ns=delta)}
        suspects, _, _ = compare_with_stage(tmp_path, [b"data"], None, racy)
        assert [p for p, _ in suspects] == [b"data/f"], delta


def test_compare_detects_chmod(tmp_path: Path) -> None:
    """Making a tracked file executable is a change: it is a suspect with MODE_EXEC."""
    f = write(tmp_path / "data/tool")
    settled(f)
    stage = {b"data/tool": entry_for(f)}
    f.chmod(0o755)
    suspects, _, _ = compare_with_stage(tmp_path, [b"data"], None, stage)
    assert [(p, st.mode) for p, st in suspects] == [(b"data/tool", MODE_EXEC)]


def test_compare_empty_directories(tmp_path: Path) -> None:
    """A staged empty dir that is still empty is unchanged; a new empty dir is untracked; a
    path staged as a file that is now an empty dir is a suspect with MODE_DIR."""
    (tmp_path / "data/kept").mkdir(parents=True)
    (tmp_path / "data/fresh").mkdir()
    (tmp_path / "data/was_file").mkdir()
    write(tmp_path / "elsewhere", b"x")
    settled(tmp_path / "elsewhere")
    stage = {
        b"data/kept": entry_for(tmp_path / "data/kept"),
        b"data/was_file": entry_for(tmp_path / "elsewhere"),
    }
    suspects, untracked, deleted = compare_with_stage(tmp_path, [b"data"], None, stage)
    assert [(p, st.mode) for p, st in suspects] == [(b"data/was_file", MODE_DIR)]
    assert [p for p, _ in untracked] == [b"data/fresh"]
    assert deleted == []


def test_compare_symlink_entries(tmp_path: Path) -> None:
    """A symlink whose stat still matches is unchanged; a new one is untracked."""
    (tmp_path / "data").mkdir()
    os.symlink("target-a", tmp_path / "data/link")
    os.symlink("target-b", tmp_path / "data/newlink")
    link = tmp_path / "data/link"
    st = os.lstat(link)
    entry = StageEntry(
        MODE_LINK,
        st.st_size,
        object_id(ObjectType.BLOB, b"target-a"),
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
        st.st_mtime_ns + 2 * RACY_NS,
    )
    suspects, untracked, deleted = compare_with_stage(
        tmp_path, [b"data"], None, {b"data/link": entry.pack()}
    )
    assert (suspects, [p for p, _ in untracked], deleted) == ([], [b"data/newlink"], [])


def test_compare_single_file_root(tmp_path: Path) -> None:
    """A root that is one file: unchanged when its stat matches, a suspect when it changed,
    untracked when not staged, deleted when gone."""
    model = write(tmp_path / "model.pt", b"weights")
    settled(model)
    stage = {b"model.pt": entry_for(model)}
    assert compare_with_stage(tmp_path, [b"model.pt"], None, stage) == ([], [], [])

    model.write_bytes(b"fine-tuned weights")
    suspects, untracked, deleted = compare_with_stage(tmp_path, [b"model.pt"], None, stage)
    assert suspects == [(b"model.pt", stat_of(model))]
    assert (untracked, deleted) == ([], [])

    suspects, untracked, deleted = compare_with_stage(tmp_path, [b"model.pt"], None, {})
    assert (suspects, untracked, deleted) == (
        [],
        [(b"model.pt", stat_of(tmp_path / "model.pt"))],
        [],
    )
    model.unlink()
    assert compare_with_stage(tmp_path, [b"model.pt"], None, stage) == ([], [], [b"model.pt"])


def test_compare_missing_root_reports_its_entries_deleted(tmp_path: Path) -> None:
    """When a whole tracked directory is gone, every staged path under it is deleted."""
    f = write(tmp_path / "elsewhere")
    stage = {b"data/a": entry_for(f), b"data/b/c": entry_for(f)}
    assert compare_with_stage(tmp_path, [b"data"], None, stage) == (
        [],
        [],
        [b"data/a", b"data/b/c"],
    )


def test_compare_honours_ignore_and_skips(tmp_path: Path) -> None:
    """Ignored files, fifos, temp files and .git are neither untracked nor suspects."""
    (tmp_path / ".dvaultignore").write_text("*.tmp\nscratch/\n")
    write(tmp_path / "data/a.tmp")
    write(tmp_path / "data/scratch/b")
    write(tmp_path / "data/.git/HEAD")
    write(tmp_path / "data/.x.0000.dvault-tmp")
    os.mkfifo(tmp_path / "data/pipe")
    write(tmp_path / "data/real")
    assert compare_with_stage(tmp_path, [b"data"], load_ignore(tmp_path), {}) == (
        [],
        [(b"data/real", stat_of(tmp_path / "data/real"))],
        [],
    )


def test_compare_agrees_with_walk(tmp_path: Path) -> None:
    """Against an empty stage, compare_with_stage's untracked paths are exactly what walk
    finds: the fused status loop and the add walk see the same files."""
    (tmp_path / ".dvaultignore").write_text("*.skip\n")
    write(tmp_path / "data/a")
    write(tmp_path / "data/b.skip")
    write(tmp_path / "data/x/y/z").chmod(0o755)
    (tmp_path / "data/empty").mkdir()
    (tmp_path / "data/only_ignored").mkdir()
    write(tmp_path / "data/only_ignored/c.skip")
    os.symlink("a", tmp_path / "data/link")
    write(tmp_path / "ckpt.bin")
    ignore = load_ignore(tmp_path)
    roots = [b"data", b"ckpt.bin"]
    _, untracked, _ = compare_with_stage(tmp_path, roots, ignore, {})
    walked: dict[bytes, FileStat] = {}
    for root in roots:
        walked.update(walk(tmp_path, root, ignore))
    assert sorted(untracked) == sorted(walked.items())


# -- scan_workspace: the same answer from one process and from several ----------------------


def test_parallel_scan_matches_a_single_process_scan(tmp_path: Path) -> None:
    """Split over worker processes (forced here by a threshold of 0), the scan reports the
    same suspects, untracked and deleted paths, including whole deleted directories, a unit
    directory left empty, a file above the units and a sibling named like a unit."""
    from dvault.repo import Repo
    from dvault.workspace.scan import scan_workspace

    for shard in range(6):
        for sub in range(3):
            for i in range(3):
                write(tmp_path / f"data/s{shard}/d{sub}/f{i}", f"{shard}{sub}{i}".encode())
    write(tmp_path / "data/top.txt", b"top")
    write(tmp_path / "data/s1.txt", b"sibling")  # sorts between data/s1 and data/s1/...
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            settled(path)
    with Repo.init(tmp_path, at_git_root=False) as repo:
        repo.add([tmp_path / "data"])
        write(tmp_path / "data/s0/d0/f0", b"changed size")
        (tmp_path / "data/s1/d1/f1").unlink()
        for i in range(3):
            (tmp_path / f"data/s2/d2/f{i}").unlink()  # d2 is left empty
        for i in range(3):
            (tmp_path / f"data/s3/d0/f{i}").unlink()
        (tmp_path / "data/s3/d0").rmdir()  # a whole directory gone
        write(tmp_path / "data/s4/new", b"new")
        (tmp_path / "data/s5/empty").mkdir()
        (tmp_path / "data/top.txt").unlink()
        roots = [b"data"]
        one = scan_workspace(tmp_path, roots, None, repo.state, workers=1)
        many = scan_workspace(tmp_path, roots, None, repo.state, workers=2, parallel_min=0)
    assert sorted(many.suspects) == sorted(one.suspects)
    assert sorted(many.untracked) == sorted(one.untracked)
    assert many.deleted == one.deleted
    assert many.compared == one.compared == 6 * 3 * 3 + 2
    assert [p for p, _ in one.suspects] == [b"data/s0/d0/f0"]
    assert sorted(p for p, _ in one.untracked) == [b"data/s2/d2", b"data/s4/new", b"data/s5/empty"]
    assert one.deleted == sorted(
        [b"data/s1/d1/f1", b"data/top.txt"]
        + [f"data/s2/d2/f{i}".encode() for i in range(3)]
        + [f"data/s3/d0/f{i}".encode() for i in range(3)]
    )
