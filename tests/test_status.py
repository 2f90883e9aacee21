"""``status`` through the library API: what is reported, and what is (not) re-read."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dvault.workspace.status as status_mod
from dvault.content import hash_stream
from dvault.repo import Repo
from dvault.store.state import FileStat, StageEntry
from dvault.treeobjects import MODE_EXEC

PAST_NS = 10_000_000_000


def settle(path: Path) -> None:
    """Move ``path``'s mtime 10 s into the past: a file that has not changed for a while
    (a just-written file is "racy" and legitimately re-hashed)."""
    st = os.lstat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - PAST_NS), follow_symlinks=False)


def write(path: Path, data: bytes, settled: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if settled:
        settle(path)
    return path


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every path that status reads and hashes, in call order."""
    calls: list[bytes] = []
    real: Callable[..., StageEntry] = status_mod.read_entry

    def counting(project: Path, path: bytes, st: FileStat, *rest: Any, **kw: Any) -> StageEntry:
        calls.append(path)
        return real(project, path, st, *rest, **kw)

    monkeypatch.setattr(status_mod, "read_entry", counting)
    return calls


@pytest.fixture
def committed(repo: Repo) -> Repo:
    """A repo with data/a, data/b and data/sub/c committed, files settled."""
    for rel in ("data/a", "data/b", "data/sub/c"):
        write(repo.root / rel, rel.encode())
    repo.add([repo.root / "data"])
    repo.commit("first")
    return repo


def test_fresh_repository_is_clean(repo: Repo) -> None:
    """A new repository with nothing tracked is clean, on branch main, with no HEAD commit."""
    write(repo.root / "notes.txt", b"not tracked data")
    st = repo.status()
    assert st.clean
    assert (st.branch, st.head) == ("main", None)
    assert st.to_json() == {
        "branch": "main",
        "head": None,
        "clean": True,
        "staged": [],
        "modified": [],
        "deleted": [],
        "untracked": [],
        "merging": None,
        "unmerged": [],
        "lost_found": [],
    }


def test_added_files_are_staged_then_clean_after_commit(repo: Repo) -> None:
    """Added files show as staged "added" until committed; then status is clean."""
    write(repo.root / "data/a", b"a")
    write(repo.root / "data/b", b"b")
    repo.add([repo.root / "data"])
    st = repo.status()
    assert [(c.path, c.status) for c in st.staged] == [(b"data/a", "added"), (b"data/b", "added")]
    assert (st.modified, st.deleted, st.untracked) == ([], [], [])
    oid = repo.commit("first")
    st = repo.status()
    assert st.clean
    assert st.head == oid


def test_staged_unstaged_untracked_and_deleted(committed: Repo) -> None:
    """Each kind of change lands in its own list: staged, modified, untracked, deleted."""
    root = committed.root
    write(root / "data/a", b"a staged edit")
    committed.add([root / "data/a"])
    write(root / "data/b", b"an unstaged edit")
    (root / "data/sub/c").unlink()
    write(root / "data/sub/new", b"new file")
    write(root / "outside.txt", b"not under a root")
    st = committed.status()
    assert [(c.path, c.status) for c in st.staged] == [(b"data/a", "modified")]
    assert st.modified == [b"data/b"]
    assert st.deleted == [b"data/sub/c"]
    assert st.untracked == [b"data/sub/new"]
    assert not st.clean
    assert st.dirty_paths() == {b"data/a", b"data/b", b"data/sub/c", b"data/sub/new"}
    js = st.to_json()
    assert js["staged"] == [{"path": "data/a", "status": "modified"}]
    assert (js["modified"], js["deleted"], js["untracked"]) == (
        ["data/b"],
        ["data/sub/c"],
        ["data/sub/new"],
    )


def test_staged_and_further_modified(committed: Repo) -> None:
    """A file staged and then edited again is both staged and modified."""
    root = committed.root
    write(root / "data/a", b"version 2")
    committed.add([root / "data/a"])
    write(root / "data/a", b"version 3!")
    st = committed.status()
    assert [c.path for c in st.staged] == [b"data/a"]
    assert st.modified == [b"data/a"]


def test_modified_file_content_is_reported_in_workspace(committed: Repo) -> None:
    """status.workspace holds the id and size of the modified file's current content."""
    data = b"new content of b"
    write(committed.root / "data/b", data)
    st = committed.status()
    entry = st.workspace[b"data/b"]
    with open(committed.root / "data/b", "rb") as f:
        assert (entry.id, entry.size) == hash_stream(f, len(data))


def test_chmod_and_symlink_retarget_are_modifications(committed: Repo) -> None:
    """Mode changes and a symlink pointing elsewhere are changes, though no bytes changed."""
    root = committed.root
    os.symlink("a", root / "data/link")
    committed.add([root / "data/link"])
    committed.commit("link")
    (root / "data/b").chmod(0o755)
    os.unlink(root / "data/link")
    os.symlink("b", root / "data/link")
    st = committed.status()
    assert st.modified == [b"data/b", b"data/link"]
    assert st.workspace[b"data/b"].mode == MODE_EXEC


def test_empty_directory_is_untracked_then_staged(committed: Repo) -> None:
    """A new empty directory under a root is data: untracked, then staged by add."""
    (committed.root / "data/empty").mkdir()
    assert committed.status().untracked == [b"data/empty"]
    committed.add([committed.root / "data/empty"])
    st = committed.status()
    assert [(c.path, c.status) for c in st.staged] == [(b"data/empty", "added")]
    assert st.untracked == []


def test_ignored_files_are_not_untracked(committed: Repo) -> None:
    """Files matching .dvaultignore never show up as untracked."""
    (committed.root / ".dvaultignore").write_text("*.tmp\n")
    write(committed.root / "data/scratch.tmp", b"x")
    write(committed.root / "data/real.csv", b"y")
    assert committed.status().untracked == [b"data/real.csv"]


def test_unchanged_files_are_not_read(committed: Repo, hashed: list[bytes]) -> None:
    """Once stat data is recorded, status of an unchanged workspace opens no file."""
    committed.status()
    assert committed.status().clean
    assert hashed == []


def test_touched_file_is_not_modified_and_stat_is_refreshed(
    committed: Repo, hashed: list[bytes]
) -> None:
    """A file whose mtime changed but content did not is not "modified"; its new stat data is
    recorded, so the next status does not read it again."""
    before = committed.state.stage_get(b"data/a")
    assert committed.status().clean
    assert hashed == []
    settle(committed.root / "data/a")  # touch: new mtime and ctime, same bytes
    assert committed.status().clean
    assert hashed == [b"data/a"]
    after = committed.state.stage_get(b"data/a")
    assert after is not None and before is not None
    assert after.id == before.id
    assert after.mtime_ns == os.lstat(committed.root / "data/a").st_mtime_ns
    assert after.cached_at > before.cached_at
    assert committed.status().clean
    assert hashed == [b"data/a"]  # not read a second time


def test_modified_large_file_is_hashed_once(committed: Repo, hashed: list[bytes]) -> None:
    """The hash cache remembers a modified (chunked, 2 MiB) file: two status calls read it once,
    and both report it modified with the same id."""
    write(committed.root / "data/b", os.urandom(2 << 20))
    first = committed.status()
    second = committed.status()
    assert hashed == [b"data/b"]
    assert first.modified == second.modified == [b"data/b"]
    assert first.workspace[b"data/b"] == second.workspace[b"data/b"]
    # the stage is untouched: it still records the committed content
    staged = committed.state.stage_get(b"data/b")
    assert staged is not None and staged.id != first.workspace[b"data/b"].id


def test_hash_cache_is_invalidated_by_a_further_edit(committed: Repo, hashed: list[bytes]) -> None:
    """A cached hash is only used while the stat data matches: editing again is noticed."""
    write(committed.root / "data/b", b"edit one")
    one = committed.status().workspace[b"data/b"]
    write(committed.root / "data/b", b"edit two")
    two = committed.status().workspace[b"data/b"]
    assert one.id != two.id
    assert hashed == [b"data/b", b"data/b"]


def test_edit_reverted_to_staged_content_is_clean(committed: Repo) -> None:
    """Editing a file and putting the original bytes back leaves status clean."""
    write(committed.root / "data/a", b"temporary")
    assert committed.status().modified == [b"data/a"]
    write(committed.root / "data/a", b"data/a")
    assert committed.status().clean


def test_racy_file_is_rehashed_until_it_settles(repo: Repo, hashed: list[bytes]) -> None:
    """A file whose mtime is not safely before the moment it was hashed (here in the future,
    as with clock skew) is re-read by every status, and trusted once it has settled."""
    f = write(repo.root / "data/a", b"fresh", settled=False)
    st = os.lstat(f)
    os.utime(f, ns=(st.st_atime_ns, time.time_ns() + PAST_NS // 2))
    repo.add([repo.root / "data"])
    assert repo.status().modified == []
    assert repo.status().modified == []
    assert hashed == [b"data/a", b"data/a"]
    settle(f)  # now 5 s in the past
    repo.status()
    repo.status()
    assert hashed == [b"data/a"] * 3


def test_single_file_root_is_not_rehashed(repo: Repo, hashed: list[bytes]) -> None:
    """A checkpoint tracked as a single-file root is trusted by stat like any other file."""
    write(repo.root / "model.pt", os.urandom(2 << 20))
    repo.add([repo.root / "model.pt"])
    repo.commit("model")
    assert repo.status().clean
    assert repo.status().clean
    assert hashed == []
    write(repo.root / "model.pt", os.urandom(2 << 20))
    assert repo.status().modified == [b"model.pt"]
    assert repo.status().modified == [b"model.pt"]
    assert hashed == [b"model.pt"]


def test_deleted_root_reports_all_its_files(committed: Repo) -> None:
    """Removing a whole tracked directory reports every file in it as deleted."""
    import shutil

    shutil.rmtree(committed.root / "data")
    assert committed.status().deleted == [b"data/a", b"data/b", b"data/sub/c"]
