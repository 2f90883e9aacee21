"""The public Python API: ``dvault.open``/``ls``/``walk``/``snapshot`` read any version
without a checkout, from the local store or straight from a remote, verified chunk by
chunk; the exceptions a caller catches; ``import dvault`` stays cheap."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dvault
from dvault.repo import Repo
from tests.versions import BIG, Versions, build


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Versions:
    return build(tmp_path_factory.mktemp("versions"))


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of a remote by URL cache its footers under XDG_CACHE_HOME: never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def where(versions: Versions, kind: str) -> dict[str, object]:
    if kind == "local":
        return {"repo": versions.root}
    if kind == "remote-url":
        return {"remote": versions.remote}
    return {"repo": versions.root, "remote": "origin"}  # a remote configured in the project


SOURCES = ["local", "remote-url", "remote-name"]


def test_public_surface_is_exported_and_import_is_cheap() -> None:
    for name in dvault.__all__:
        assert getattr(dvault, name) is not None, name
    assert issubclass(dvault.UnknownRevision, dvault.DvaultError)
    assert issubclass(dvault.PathNotFound, FileNotFoundError)
    assert issubclass(dvault.RemoteError, dvault.DvaultError)
    code = (
        "import sys, dvault; heavy = {'dvault.repo', 'dvault.reader', 'lmdb', 'fsspec', "
        "'boto3', 'dvault.remote.backend'} & set(sys.modules); print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("kind", SOURCES)
def test_open_reads_each_version(versions: Versions, kind: str) -> None:
    for rev in ("v1", "v2"):
        for path in ("data/labels.csv", "data/table.parquet", "data/sub/deeper/b.txt"):
            with dvault.open(path, rev, **where(versions, kind)) as f:  # type: ignore[arg-type]
                assert f.read() == versions.files[rev][path]
    with dvault.open("data/labels.csv", "HEAD", **where(versions, kind)) as f:  # type: ignore[arg-type]
        assert f.read() == versions.files["v2"]["data/labels.csv"]  # on a remote: main
    with dvault.open("data/labels.csv", "v2~1", **where(versions, kind)) as f:  # type: ignore[arg-type]
        assert f.read() == versions.files["v1"]["data/labels.csv"]


@pytest.mark.parametrize("kind", ["local", "remote-url"])
def test_multi_chunk_file_streams_and_seeks(versions: Versions, kind: str) -> None:
    expected = versions.files["v2"]["data/big.bin"]
    rng = random.Random(3)
    with dvault.open("data/big.bin", "v2", **where(versions, kind)) as f:  # type: ignore[arg-type]
        assert isinstance(f, io.BufferedIOBase) and f.seekable() and f.readable()
        assert f.size == BIG and len(f._chunks) > 3  # really chunked: seeks cross chunks
        for start in f._starts[1:-1]:  # every chunk boundary, read across it
            f.seek(start - 5)
            assert f.read(10) == expected[start - 5 : start + 5]
        for _ in range(30):
            start, length = rng.randrange(BIG), rng.randrange(1, 1_500_000)
            assert f.seek(start) == start
            assert f.read(length) == expected[start : start + length]
            assert f.tell() == min(BIG, start + length)
        f.seek(-100, io.SEEK_END)
        assert f.read() == expected[-100:]
        assert f.read(10) == b""  # at the end
        f.seek(BIG + 10)
        assert f.read(10) == b""
        f.seek(1000)
        f.seek(500, io.SEEK_CUR)
        buffer = bytearray(2000)
        assert f.readinto(buffer) == 2000 and bytes(buffer) == expected[1500:3500]
        assert 0 < len(f.read1(10 << 20)) <= 1 << 20  # one chunk at most
        f.seek(0)
        assert f.read() == expected
        with pytest.raises(ValueError):
            f.seek(-1)
    assert f.closed


def test_file_object_works_with_standard_readers(versions: Versions) -> None:
    text = io.TextIOWrapper(dvault.open("data/labels.csv", "v1", repo=versions.root))
    with text:
        assert text.readlines()[-1] == "b.png,dog\n"


def _flip(path: Path, offset: int) -> None:
    path.chmod(0o644)
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x40]))


def test_a_corrupted_pack_byte_is_never_returned(versions: Versions, tmp_path: Path) -> None:
    """Damage one chunk of the big file in the local store and on the remote: reading it
    raises a DvaultError; the intact chunks before it still read."""
    root = tmp_path / "proj"
    remote = tmp_path / "remote"
    shutil.copytree(versions.root, root, symlinks=True)
    shutil.copytree(versions.remote, remote, symlinks=True)
    expected = versions.files["v1"]["data/big.bin"]
    with dvault.snapshot("v1", repo=root) as snap, snap.open("data/big.bin") as f:
        victim, length = f._chunks[2]
        start = f._starts[2]
        pack, entry = snap.source.objects.store.locate(victim)  # type: ignore[attr-defined]
    offset = entry.offset + entry.stored_len // 2
    _flip(root / ".dvault" / "packs" / f"{pack}.pack", offset)
    _flip(remote / "packs" / f"{pack}.pack", offset)
    for source in ({"repo": root}, {"remote": remote}):
        with dvault.open("data/big.bin", "v1", **source) as f:  # type: ignore[arg-type]
            assert f.read(start) == expected[:start]  # chunks 0 and 1 are intact
            with pytest.raises(dvault.DvaultError) as raised:
                f.read(length)
            assert victim.hex() in str(raised.value)
            f.seek(0)
            with pytest.raises(dvault.DvaultError):
                f.read()
        with (
            dvault.open("data/big.bin", "v2", **source) as f,  # type: ignore[arg-type]
            pytest.raises(dvault.DvaultError),
        ):
            f.read()  # v2 shares the damaged chunk (only its middle changed)


@pytest.mark.parametrize("kind", SOURCES)
def test_unknown_revision_and_path(versions: Versions, kind: str) -> None:
    opts = where(versions, kind)
    with pytest.raises(dvault.UnknownRevision):
        dvault.open("data/labels.csv", "v9", **opts)  # type: ignore[arg-type]
    with pytest.raises(dvault.UnknownRevision):
        dvault.ls("data", "v1~5", **opts)  # type: ignore[arg-type]
    with pytest.raises(dvault.PathNotFound) as missing:
        dvault.open("data/nope.csv", "v1", **opts)  # type: ignore[arg-type]
    assert isinstance(missing.value, FileNotFoundError)
    assert "data/nope.csv" in str(missing.value) and "v1" in str(missing.value)
    with pytest.raises(dvault.PathNotFound):
        dvault.walk("data/labels.csv/x", "v1", **opts)  # type: ignore[arg-type]
    with pytest.raises(dvault.IsADirectory):
        dvault.open("data/sub", "v1", **opts)  # type: ignore[arg-type]
    with pytest.raises(dvault.NotADirectory):
        dvault.walk("data/labels.csv", "v1", **opts)  # type: ignore[arg-type]
    with pytest.raises(dvault.ReadOnly):
        dvault.open("data/labels.csv", "v1", mode="wb", **opts)  # type: ignore[arg-type]


def test_no_repository_or_remote_raises(versions: Versions, tmp_path: Path) -> None:
    with pytest.raises(dvault.NotARepository):
        dvault.ls(repo=tmp_path)
    with pytest.raises(dvault.UsageError):
        dvault.ls(repo=versions.root, remote="upstream")  # no such remote configured
    with pytest.raises(dvault.RemoteError):
        dvault.ls(remote=tmp_path)  # a directory with no dvault data


@pytest.mark.parametrize("kind", ["local", "remote-url"])
def test_ls_and_walk(versions: Versions, kind: str) -> None:
    opts = where(versions, kind)
    entries = {e.name: e for e in dvault.ls("data", "v1", **opts)}  # type: ignore[arg-type]
    assert sorted(entries) == ["big.bin", "current.csv", "labels.csv", "sub", "table.parquet"]
    labels = entries["labels.csv"]
    assert (labels.path, labels.type, labels.mode) == ("data/labels.csv", "file", 0o100644)
    assert labels.size == len(versions.files["v1"]["data/labels.csv"])
    assert entries["sub"].type == "directory" and entries["sub"].size == len("alpha\nbeta\n")
    assert entries["current.csv"].type == "symlink"
    assert dvault.ls("data/labels.csv", "v1", **opts) == [labels]  # type: ignore[arg-type]
    v2 = {e.name: e for e in dvault.ls("data", "v2", **opts)}  # type: ignore[arg-type]
    assert v2["sub"].id == entries["sub"].id  # unchanged content: the same id
    assert v2["labels.csv"].id != labels.id

    walked = [
        (top, [d.name for d in dirs], [f.name for f in files])
        for top, dirs, files in dvault.walk("", "v2", **opts)  # type: ignore[arg-type]
    ]
    assert walked == [
        ("", ["data"], []),
        ("data", ["sub"], ["big.bin", "current.csv", "labels.csv", "table.parquet"]),
        ("data/sub", ["deeper"], ["a.txt"]),
        ("data/sub/deeper", [], ["b.txt"]),
    ]
    pruned = []
    for top, dirs, _files in dvault.walk("data", "v2", **opts):  # type: ignore[arg-type]
        pruned.append(top)
        dirs[:] = [d for d in dirs if d.name != "sub"]
    assert pruned == ["data"]
    bottom_up = [top for top, _, _ in dvault.walk("data", "v2", topdown=False, **opts)]  # type: ignore[arg-type]
    assert bottom_up == ["data/sub/deeper", "data/sub", "data"]


def test_snapshot_and_symlinks(versions: Versions) -> None:
    with dvault.snapshot("v1", repo=versions.root) as snap:
        assert snap.read_bytes("data/current.csv") == versions.files["v1"]["data/labels.csv"]
        assert snap.stat("data/current.csv").type == "file"  # followed
        assert snap.stat("data/current.csv", follow_symlinks=False).type == "symlink"
        assert snap.exists("/data/./sub/../labels.csv") and not snap.exists("../etc/passwd")
        files = {e.path: e.size for e in snap.files("data/sub")}
        assert files == {"data/sub/a.txt": 6, "data/sub/deeper/b.txt": 5}
        assert snap.commit.message == "v1"
        assert snap.id == Repo.open(versions.root).resolve("v1").hex()


def test_repo_methods_clone_and_read(versions: Versions, tmp_path: Path) -> None:
    """Repo covers the command line: clone, fetch, snapshot, verify, gc, log."""
    with Repo.clone(str(versions.remote), tmp_path / "copy", rev="v1") as repo:
        assert (tmp_path / "copy" / "data" / "labels.csv").read_bytes() == (
            versions.files["v1"]["data/labels.csv"]
        )
        with pytest.raises(dvault.UnknownRevision):
            repo.snapshot("v2")  # a clone of one revision holds just that one
        assert repo.fetch("origin").objects > 0
        with repo.snapshot("v2") as snap:
            assert snap.read_bytes("data/labels.csv") == versions.files["v2"]["data/labels.csv"]
        with repo.snapshot("v1", remote="origin") as snap:
            assert len(snap.ls("data")) == 5
        assert repo.verify(read_data=True).ok
        assert repo.verify(remote="origin").ok
        assert repo.fetch().objects == 0  # everything is here now
        assert [e.commit.message for e in repo.log("v2")] == ["v2", "v1"]
        assert repo.gc(dry_run=True).removed_objects == 0
        assert set(repo.remotes()) == {"origin"}
        assert os.fspath(repo.root) == str((tmp_path / "copy").resolve())


def test_partial_clone_reads_other_paths_from_its_remote(
    versions: Versions, tmp_path: Path
) -> None:
    with Repo.clone(str(versions.remote), tmp_path / "part", rev="v1", paths=["data/sub"]):
        pass
    assert not (tmp_path / "part" / "data" / "labels.csv").exists()
    with dvault.open("data/big.bin", "v1", repo=tmp_path / "part") as f:
        f.seek(2_000_000)
        assert f.read(1000) == versions.files["v1"]["data/big.bin"][2_000_000:2_001_000]
    with dvault.snapshot("v1", repo=tmp_path / "part") as snap:
        assert snap.read_bytes("data/labels.csv") == versions.files["v1"]["data/labels.csv"]
        assert snap.read_bytes("data/sub/a.txt") == b"alpha\n"


def _read_in_child(snap: dvault.Snapshot, remote_snap: dvault.Snapshot, queue: object) -> None:
    queue.put((snap.read_bytes("data/labels.csv"), remote_snap.read_bytes("data/labels.csv")))  # type: ignore[attr-defined]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_snapshots_survive_fork(versions: Versions) -> None:
    """PyTorch DataLoader workers are forked with the dataset (and its snapshot) inside."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    with (
        dvault.snapshot("v1", repo=versions.root) as snap,
        dvault.snapshot("v1", remote=versions.remote) as remote_snap,
    ):
        expected = versions.files["v1"]["data/labels.csv"]
        assert snap.read_bytes("data/labels.csv") == expected
        queue = context.Queue()
        child = context.Process(target=_read_in_child, args=(snap, remote_snap, queue))
        child.start()
        assert queue.get(timeout=60) == (expected, expected)
        child.join(60)
        assert child.exitcode == 0
        assert snap.read_bytes("data/labels.csv") == expected  # the parent's index is intact
