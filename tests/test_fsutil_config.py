"""Durable file primitives, the FdReader, the TOML config and the commit author."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from dvault import config as cfg
from dvault.errors import CorruptObject, StorageError
from dvault.fsutil import FdReader, append_durable, temp_name, write_durable
from dvault.identity import author

# -- write_durable / append_durable -------------------------------------------------------


def test_write_durable_creates_and_replaces(tmp_path: Path) -> None:
    """write_durable creates a file, replaces it atomically, and leaves no temp file."""
    target = tmp_path / "ref"
    write_durable(target, b"one\n")
    assert target.read_bytes() == b"one\n"
    write_durable(target, b"two\n")
    assert target.read_bytes() == b"two\n"
    assert os.listdir(tmp_path) == ["ref"]


def test_write_durable_exclusive_refuses_existing(tmp_path: Path) -> None:
    """Exclusive (create-only) writes never replace an existing file and clean up."""
    target = tmp_path / "tag"
    write_durable(target, b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        write_durable(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["tag"]


def test_write_durable_missing_parent_is_storage_error(tmp_path: Path) -> None:
    """Writing where the directory does not exist is one StorageError naming the path."""
    target = tmp_path / "no" / "such" / "dir" / "file"
    with pytest.raises(StorageError, match="no/such/dir/file"):
        write_durable(target, b"x")
    assert os.listdir(tmp_path) == []


def test_write_durable_failure_after_temp_leaves_nothing(tmp_path: Path) -> None:
    """When the final rename fails (a directory holds the name), the temp file is removed,
    the error is a StorageError, and the directory in the way is untouched."""
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "inside").write_bytes(b"keep")
    with pytest.raises(StorageError, match="busy"):
        write_durable(tmp_path / "busy", b"x")
    assert os.listdir(tmp_path) == ["busy"]
    assert (tmp_path / "busy" / "inside").read_bytes() == b"keep"


def test_temp_name_is_a_hidden_unique_sibling(tmp_path: Path) -> None:
    """Temp names live next to the target (same file system), hidden, and never repeat."""
    target = tmp_path / "refs" / "main"
    names = {temp_name(target) for _ in range(100)}
    assert len(names) == 100
    for name in names:
        assert name.parent == target.parent
        assert name.name.startswith(".main.")


def test_append_durable_appends_records(tmp_path: Path) -> None:
    """append_durable creates the file and appends records in order."""
    log = tmp_path / "log"
    append_durable(log, b"a\n")
    append_durable(log, b"b\n")
    assert log.read_bytes() == b"a\nb\n"


def test_append_durable_error_is_storage_error(tmp_path: Path) -> None:
    """An append that cannot open its file is a StorageError naming it."""
    with pytest.raises(StorageError, match="missing"):
        append_durable(tmp_path / "missing" / "log", b"x\n")


# -- FdReader -----------------------------------------------------------------------------


def reader_for(path: Path, expected: int) -> tuple[FdReader, int]:
    fd = os.open(path, os.O_RDONLY)
    return FdReader(fd, expected), fd


@pytest.mark.parametrize("size", [0, 1, 1000, 3 << 20])
def test_fdreader_reads_whole_file(tmp_path: Path, size: int) -> None:
    """read() returns the whole file when the stat size is right."""
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    reader, fd = reader_for(tmp_path / "f", size)
    try:
        assert reader.read() == data
        assert reader.read() == b""
    finally:
        os.close(fd)


@pytest.mark.parametrize("expected", [0, 10, 4999])
def test_fdreader_reads_a_file_that_grew(tmp_path: Path, expected: int) -> None:
    """A file larger than its stat said (it grew) is still read to its end."""
    data = os.urandom(5000) + os.urandom(3 << 20)
    (tmp_path / "f").write_bytes(data)
    reader, fd = reader_for(tmp_path / "f", expected)
    try:
        assert reader.read() == data
    finally:
        os.close(fd)


def test_fdreader_file_that_shrank(tmp_path: Path) -> None:
    """A file smaller than expected reads as what is there."""
    (tmp_path / "f").write_bytes(b"short")
    reader, fd = reader_for(tmp_path / "f", 1000)
    try:
        assert reader.read() == b"short"
    finally:
        os.close(fd)


def test_fdreader_sized_reads_and_readinto(tmp_path: Path) -> None:
    """read(n) and readinto() consume the file in order, and report its end."""
    data = bytes(range(256)) * 4
    (tmp_path / "f").write_bytes(data)
    reader, fd = reader_for(tmp_path / "f", len(data))
    try:
        assert reader.read(10) == data[:10]
        buf = bytearray(100)
        assert reader.readinto(buf) == 100
        assert bytes(buf) == data[10:110]
        view = memoryview(bytearray(2000))
        n = reader.readinto(view)
        assert n == len(data) - 110
        assert bytes(view[:n]) == data[110:]
        assert reader.readinto(bytearray(10)) == 0
    finally:
        os.close(fd)


# -- config -------------------------------------------------------------------------------


def test_config_round_trip(tmp_path: Path) -> None:
    """Settings saved are loaded back identically, unknown keys included."""
    path = tmp_path / "config"
    data = {
        "core": {"format": 1},
        "user": {"name": "Ada", "email": "ada@example.com"},
        "remote": {"nas": {"url": "/mnt/nas/vault", "retention_days": 30}},
        "future": {"setting": [1, 2, 3]},
    }
    cfg.save(path, data)
    assert cfg.load(path) == data
    assert [p.name for p in tmp_path.iterdir()] == ["config"]


def test_config_load_missing_is_empty(tmp_path: Path) -> None:
    """A missing config file is an empty configuration, not an error."""
    assert cfg.load(tmp_path / "nope") == {}


def test_config_corrupt_toml_is_corrupt_object(tmp_path: Path) -> None:
    """A config that is not valid TOML is a CorruptObject naming the file."""
    path = tmp_path / "config"
    path.write_text("[core\nformat = = 1\n")
    with pytest.raises(CorruptObject, match="config"):
        cfg.load(path)


def test_config_get_dotted() -> None:
    """get() follows dotted keys and returns the default for anything missing."""
    data = {"user": {"name": "Ada"}, "core": {"format": 1}, "flat": "x"}
    assert cfg.get(data, "user.name") == "Ada"
    assert cfg.get(data, "core.format") == 1
    assert cfg.get(data, "user") == {"name": "Ada"}
    assert cfg.get(data, "user.email") is None
    assert cfg.get(data, "user.email", "none") == "none"
    assert cfg.get(data, "flat.deeper", 7) == 7
    assert cfg.get({}, "a.b.c") is None


# -- identity -----------------------------------------------------------------------------


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No DVAULT_AUTHOR and an empty HOME, so no user or system git config is read."""
    home = tmp_path / "home"
    home.mkdir()
    for var in ("DVAULT_AUTHOR", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_CONFIG_GLOBAL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return home


def test_author_from_environment(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DVAULT_AUTHOR wins over everything else."""
    monkeypatch.setenv("DVAULT_AUTHOR", "CI Bot <ci@example.com>")
    config = {"user": {"name": "Ada", "email": "ada@example.com"}}
    assert author(config) == "CI Bot <ci@example.com>"


def test_author_from_config(isolated: Path) -> None:
    """Without DVAULT_AUTHOR, user.name and user.email of the dvault config are used."""
    (isolated / ".gitconfig").write_text("[user]\n\tname = Git Name\n\temail = git@example.com\n")
    config = {"user": {"name": "Ada", "email": "ada@example.com"}}
    assert author(config) == "Ada <ada@example.com>"


def test_author_falls_back_to_git_config(isolated: Path) -> None:
    """Missing config fields are taken from git's user configuration."""
    (isolated / ".gitconfig").write_text("[user]\n\tname = Git Name\n\temail = git@example.com\n")
    assert author({}) == "Git Name <git@example.com>"
    assert author({"user": {"name": "Ada"}}) == "Ada <git@example.com>"


def test_author_last_resort_is_login_and_host(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no configuration at all, the author is the login name at the host name."""
    import socket

    monkeypatch.setenv("LOGNAME", "someone")
    monkeypatch.setenv("USER", "someone")
    assert author({}) == f"someone <someone@{socket.gethostname()}>"


def test_mapped_index_pages_are_released_past_the_budget(tmp_path: Path) -> None:
    """Reading an LMDB file maps its pages into the process; MappedFile leaves them while
    the process's file-backed memory is under budget (no re-faulting hot pages) and
    releases them once it is over."""
    import lmdb

    from dvault.fsutil import MappedFile, _file_backed_resident

    env = lmdb.open(str(tmp_path / "db"), map_size=1 << 30, readahead=False)
    rng = random.Random(5)
    with env.begin(write=True) as txn:
        for i in range(24_000):
            txn.put(i.to_bytes(4, "big"), rng.randbytes(1000))  # ~30 MB of pages
    mapped = MappedFile((tmp_path / "db" / "data.mdb").resolve(), every=1, budget=1 << 62)

    def read_everything() -> int:
        with env.begin() as txn:
            total = sum(len(value) for _, value in txn.cursor())
        mapped.touched()
        return total

    assert read_everything() == 24_000_000
    resident = _file_backed_resident()
    mapped.touched()  # under budget: nothing is released
    assert _file_backed_resident() > resident - (4 << 20)
    mapped.budget = 0
    mapped.touched()  # over budget: released, and still readable afterwards
    assert _file_backed_resident() < resident - (20 << 20)
    assert read_everything() == 24_000_000
    env.close()
