"""A hostile remote cannot make dvault write outside its own directories."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dvault.errors import NotARepository
from dvault.remote.backend import RemoteSpec
from dvault.remote.reflog import GENESIS, LogEntry, RefUpdate, entry_key
from dvault.remote.registry import open_backend
from dvault.remote.session import Remote
from dvault.repo import Repo


def _entry(ref: str) -> bytes:
    return LogEntry(
        seq=0,
        prev=GENESIS,
        updates=(RefUpdate(ref=ref, old=None, new="ab" * 32),),
        time_ns=time.time_ns(),
        user="mallory",
        host="evil",
    ).encode()


@pytest.mark.parametrize(
    "ref", ["refs/heads/../../../escape", "refs/heads/a/../../b", "refs/tags/..", "refs/pins/ x"]
)
def test_ref_names_that_escape_are_refused(tmp_path: Path, ref: str) -> None:
    """A ref-log entry whose name is not a valid ref is not a valid entry: a hole, skipped
    and reported, never a ref (docs/remotes.md, "Holes")."""
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()  # a directory backend never creates its directory
    backend = open_backend(RemoteSpec("r", str(remote_dir)))
    backend.create(entry_key(0), _entry(ref))
    with Repo.init(tmp_path / "proj") as repo:
        remote = Remote(repo, RemoteSpec("r", str(remote_dir)))
        view = remote.log.load()
        assert view.refs == {} and [h.seq for h in view.holes] == [0]
        assert "is not a valid ref-log entry" in view.holes[0].describe("r")
    assert not (tmp_path / "escape").exists()
    assert not list(tmp_path.rglob("escape"))


def test_foreign_pack_names_are_ignored(tmp_path: Path) -> None:
    """Files under packs/ that are not named like dvault packs never reach the footer cache."""
    remote_dir = tmp_path / "remote"
    (remote_dir / "packs").mkdir(parents=True)
    (remote_dir / "packs" / "notes.txt").write_text("hello")
    (remote_dir / "packs" / "..evil.pack").write_text("x" * 100)
    with Repo.init(tmp_path / "proj") as repo:
        remote = Remote(repo, RemoteSpec("r", str(remote_dir)))
        remote.catalog.refresh()
        assert remote.catalog.packs == {}
        cache = repo.dir / "remotes" / "r" / "footers"
        assert not cache.exists() or not list(cache.iterdir())


def test_a_repository_that_lost_its_head_is_not_silently_reset(tmp_path: Path) -> None:
    """Opening a .dvault with packs but no HEAD fails clearly instead of recreating HEAD."""
    with Repo.init(tmp_path) as repo:
        (repo.dir / "HEAD").unlink()
    with pytest.raises(NotARepository, match="HEAD file is missing"):
        Repo.open(tmp_path)
