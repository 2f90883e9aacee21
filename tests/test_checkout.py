"""Checkout through the library API: planning, conflict checks, recording and safe writes."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import pytest

import dvault.workspace.checkout as co
import dvault.workspace.status as status_mod
from dvault.errors import CorruptObject, DvaultError, StorageError, UncommittedChanges, UsageError
from dvault.hashing import ObjectId
from dvault.repo import Repo
from dvault.store.objectstore import ObjectStore
from dvault.store.state import RACY_NS, FileStat, StageEntry
from dvault.treeobjects import TreeEntry
from dvault.trees import flatten


def write(path: Path, data: bytes) -> Path:
    """Write ``path`` with an mtime 10 s in the past (not racy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    st = os.lstat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 10_000_000_000))
    return path


def files_of(root: Path) -> dict[str, bytes]:
    """Every file of the workspace (outside .dvault), relative path → content."""
    found = {}
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".dvault"]
        for name in names:
            full = Path(dirpath, name)
            found[full.relative_to(root).as_posix()] = full.read_bytes()
    return found


def summary(changes: list[co.Change]) -> list[tuple[bytes, str]]:
    return sorted((c.path, c.status) for c in changes)


def tree_of(repo: Repo, rev: str) -> ObjectId:
    return repo.read_commit(repo.resolve(rev)).tree


@pytest.fixture
def two(repo: Repo) -> tuple[Repo, ObjectId, ObjectId]:
    """c1: data/a=a1, data/b=b1; c2 (HEAD, branch main): data/a=a2, data/c=c2, b deleted."""
    write(repo.root / "data/a", b"a1")
    write(repo.root / "data/b", b"b1")
    repo.add([repo.root / "data"])
    c1 = repo.commit("one")
    repo.branch("old")
    write(repo.root / "data/a", b"a2")
    (repo.root / "data/b").unlink()
    write(repo.root / "data/c", b"c2")
    c2 = repo.commit("two", all=True)
    return repo, c1, c2


# -- plan ---------------------------------------------------------------------------------


def test_plan_full_is_the_diff_from_head(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """A full checkout plans exactly the paths that differ between HEAD and the target."""
    repo, c1, _ = two
    changes = co.plan(repo, repo.read_commit(c1).tree, None)
    assert summary(changes) == [
        (b"data/a", "modified"),
        (b"data/b", "added"),
        (b"data/c", "deleted"),
    ]


def test_plan_full_carries_local_changes_unless_forced(
    two: tuple[Repo, ObjectId, ObjectId],
) -> None:
    """Local edits to paths the target does not change are left out of a plan; with force
    they are repaired (put back to the target's content)."""
    repo, _, _ = two
    write(repo.root / "data/c", b"local edit")
    target = tree_of(repo, "HEAD")
    assert co.plan(repo, target, None) == []
    forced = co.plan(repo, target, None, force=True)
    staged = repo.state.stage_get(b"data/c")
    assert staged is not None
    assert [(c.path, c.new.id if c.new else None) for c in forced] == [(b"data/c", staged.id)]


def test_plan_paths_restores_from_stage(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """Path mode compares the stage with the target for the given paths only; it overlays
    (data/c, staged but not in the target, stays) unless not ``overlay``."""
    repo, c1, _ = two
    target = repo.read_commit(c1).tree
    assert summary(co.plan(repo, target, [b"data/a"])) == [(b"data/a", "modified")]
    assert summary(co.plan(repo, target, [b"data/b"])) == [(b"data/b", "added")]
    assert summary(co.plan(repo, target, [b"data"])) == [
        (b"data/a", "modified"),
        (b"data/b", "added"),
    ]
    assert summary(co.plan(repo, target, [b"data"], overlay=False)) == [
        (b"data/a", "modified"),
        (b"data/b", "added"),
        (b"data/c", "deleted"),
    ]
    assert summary(co.plan(repo, target, [b"data/c"], overlay=False)) == [(b"data/c", "deleted")]
    with pytest.raises(UsageError, match="not in that revision"):
        co.plan(repo, target, [b"data/c"])  # an overlay of nothing: git says the same
    with pytest.raises(UsageError, match="not in that revision"):
        co.plan(repo, target, [b"data/zzz"])


def test_plan_paths_repairs_locally_deleted_and_edited_files(
    two: tuple[Repo, ObjectId, ObjectId],
) -> None:
    """Restoring a path from the current revision puts back deleted and edited files."""
    repo, _, _ = two
    (repo.root / "data/a").unlink()
    write(repo.root / "data/c", b"edited")
    changes = co.plan(repo, tree_of(repo, "HEAD"), [b"data"])
    assert sorted(c.path for c in changes) == [b"data/a", b"data/c"]
    assert all(c.new is not None for c in changes)


# -- checkout and conflicts ---------------------------------------------------------------


def test_checkout_switches_workspace_head_and_stage(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """Checking out a branch makes files, HEAD and the stage match it; status is clean."""
    repo, c1, c2 = two
    report = repo.checkout("old")
    assert (report.written, report.removed) == (2, 1)
    assert files_of(repo.root) == {"data/a": b"a1", "data/b": b"b1"}
    assert repo.head() == ("old", c1)
    assert repo.state.stage_tree() == repo.read_commit(c1).tree
    assert repo.status().clean
    repo.checkout(c2.hex())
    assert files_of(repo.root) == {"data/a": b"a2", "data/c": b"c2"}
    assert repo.head() == (None, c2)
    assert repo.status().clean


def test_checkout_creates_and_removes_directories(repo: Repo) -> None:
    """Nested directories are created when needed and pruned when emptied."""
    write(repo.root / "data/keep", b"k")
    repo.add([repo.root / "data"])
    c1 = repo.commit("one")
    write(repo.root / "data/deep/er/f", b"f")
    repo.commit("two", all=True)
    repo.checkout(c1.hex())
    assert not (repo.root / "data/deep").exists()
    repo.checkout("main")
    assert (repo.root / "data/deep/er/f").read_bytes() == b"f"


def test_file_and_directory_swap_places(repo: Repo) -> None:
    """A path that is a file in one revision and a directory in the other switches cleanly
    both ways."""
    write(repo.root / "data/x", b"a file")
    repo.add([repo.root / "data"])
    c1 = repo.commit("file")
    (repo.root / "data/x").unlink()
    write(repo.root / "data/x/inner", b"now a directory")
    repo.commit("dir", all=True)
    repo.checkout(c1.hex())
    assert files_of(repo.root) == {"data/x": b"a file"}
    assert repo.status().clean
    repo.checkout("main")
    assert files_of(repo.root) == {"data/x/inner": b"now a directory"}
    assert repo.status().clean


def test_modes_links_and_empty_dirs_round_trip(repo: Repo) -> None:
    """Executable bits, symlinks and empty directories are restored exactly."""
    write(repo.root / "data/plain", b"p")
    repo.add([repo.root / "data"])
    c1 = repo.commit("plain")
    write(repo.root / "data/run.sh", b"#!/bin/sh\n").chmod(0o755)
    os.symlink("run.sh", repo.root / "data/link")
    (repo.root / "data/empty").mkdir()
    repo.commit("more", all=True)
    repo.checkout(c1.hex())
    assert sorted(os.listdir(repo.root / "data")) == ["plain"]
    repo.checkout("main")
    assert os.stat(repo.root / "data/run.sh").st_mode & 0o777 == 0o755
    assert os.stat(repo.root / "data/plain").st_mode & 0o777 == 0o644
    assert os.readlink(repo.root / "data/link") == "run.sh"
    assert (repo.root / "data/empty").is_dir()
    assert os.listdir(repo.root / "data/empty") == []
    assert repo.status().clean


def conflicts_of(repo: Repo, rev: str) -> str:
    """The checkout error message; asserts the workspace and HEAD did not change."""
    before, head = files_of(repo.root), repo.head()
    with pytest.raises(UncommittedChanges) as info:
        repo.checkout(rev)
    assert files_of(repo.root) == before
    assert repo.head() == head
    return str(info.value)


def test_modified_file_is_a_conflict(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """An unstaged edit to a file the checkout changes is refused, naming it."""
    repo, _, _ = two
    write(repo.root / "data/a", b"precious edit")
    message = conflicts_of(repo, "old")
    assert "data/a" in message
    assert "data/c" not in message


def test_staged_change_is_a_conflict(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """A staged but uncommitted change to a file the checkout changes is refused."""
    repo, _, _ = two
    write(repo.root / "data/c", b"staged edit")
    repo.add([repo.root / "data/c"])
    assert "data/c" in conflicts_of(repo, "old")


def test_untracked_file_in_the_way_is_a_conflict(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """An untracked file where the checkout must create one is refused, unless it already
    holds exactly the target content."""
    repo, _, _ = two
    write(repo.root / "data/b", b"someone else's b")
    assert "data/b" in conflicts_of(repo, "old")
    write(repo.root / "data/b", b"b1")
    repo.checkout("old")
    assert (repo.root / "data/b").read_bytes() == b"b1"


def test_directory_with_untracked_files_in_the_way(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """A directory holding untracked files where the target has a file is refused."""
    repo, _, _ = two
    write(repo.root / "data/b/mine.txt", b"untracked work")
    message = conflicts_of(repo, "old")
    assert "data/b" in message


def test_empty_directory_in_the_way_is_replaced_when_forced(
    two: tuple[Repo, ObjectId, ObjectId],
) -> None:
    """A forced checkout replaces an empty directory where the target has a file."""
    repo, _, _ = two
    (repo.root / "data/b").mkdir()
    repo.checkout("old", force=True)
    assert (repo.root / "data/b").read_bytes() == b"b1"


def test_file_where_a_directory_must_go(repo: Repo) -> None:
    """An untracked file where the target needs a parent directory is refused."""
    write(repo.root / "data/a", b"a")
    repo.add([repo.root / "data"])
    c1 = repo.commit("one")
    write(repo.root / "data/d/f", b"f")
    repo.commit("two", all=True)
    repo.checkout(c1.hex())
    write(repo.root / "data/d", b"an untracked file named like the directory")
    assert "data/d" in conflicts_of(repo, "main")


def test_missing_file_is_not_a_conflict(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """A tracked file deleted locally holds no work to lose: checkout proceeds."""
    repo, _, _ = two
    (repo.root / "data/a").unlink()
    (repo.root / "data/c").unlink()
    repo.checkout("old")
    assert files_of(repo.root) == {"data/a": b"a1", "data/b": b"b1"}
    assert repo.status().clean


def test_unrelated_local_edit_is_carried_over(repo: Repo) -> None:
    """Local edits to files both revisions share survive a checkout untouched."""
    write(repo.root / "data/shared", b"s")
    write(repo.root / "data/x", b"x1")
    repo.add([repo.root / "data"])
    c1 = repo.commit("one")
    write(repo.root / "data/x", b"x2")
    repo.commit("two", all=True)
    write(repo.root / "data/shared", b"my edit")
    repo.checkout(c1.hex())
    assert files_of(repo.root) == {"data/shared": b"my edit", "data/x": b"x1"}
    assert repo.status().modified == [b"data/shared"]


def test_unrelated_staged_change_is_carried_over(repo: Repo) -> None:
    """A staged change to a file both revisions share stays staged after a checkout."""
    write(repo.root / "data/shared", b"s")
    write(repo.root / "data/x", b"x1")
    repo.add([repo.root / "data"])
    c1 = repo.commit("one")
    write(repo.root / "data/x", b"x2")
    repo.commit("two", all=True)
    write(repo.root / "data/shared", b"staged edit")
    repo.add([repo.root / "data/shared"])
    repo.checkout(c1.hex())
    assert (repo.root / "data/x").read_bytes() == b"x1"
    st = repo.status()
    assert [(c.path, c.status) for c in st.staged] == [(b"data/shared", "modified")]
    assert (st.modified, st.untracked, st.deleted) == ([], [], [])
    committed = repo.commit("three")
    tree = flatten(repo.store, repo.read_commit(committed).tree)
    assert repo.store.read_file_content(tree[b"data/x"].id) == b"x1"
    assert repo.store.read_file_content(tree[b"data/shared"].id) == b"staged edit"


def test_find_conflicts_lists_every_path(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """All conflicting paths are reported at once, sorted, not just the first."""
    repo, c1, _ = two
    write(repo.root / "data/a", b"edit")
    write(repo.root / "data/b", b"untracked")
    write(repo.root / "data/c", b"edit too")
    changes = co.plan(repo, repo.read_commit(c1).tree, None)
    assert co.find_conflicts(repo, changes, False) == [b"data/a", b"data/b", b"data/c"]


def test_force_overwrites_local_changes(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """With force the checkout proceeds over local edits and untracked files."""
    repo, _, _ = two
    write(repo.root / "data/a", b"edit")
    write(repo.root / "data/b", b"untracked")
    repo.checkout("old", force=True)
    assert files_of(repo.root) == {"data/a": b"a1", "data/b": b"b1"}
    assert repo.status().clean


def test_path_checkout_restores_without_moving_head(
    two: tuple[Repo, ObjectId, ObjectId],
) -> None:
    """``checkout REV -- PATH`` restores that path into workspace and stage; HEAD stays."""
    repo, _, c2 = two
    repo.checkout("old", paths=[str(repo.root / "data/b")])
    assert (repo.root / "data/b").read_bytes() == b"b1"
    assert repo.head() == ("main", c2)
    st = repo.status()
    assert [(c.path, c.status) for c in st.staged] == [(b"data/b", "added")]
    assert (st.modified, st.untracked) == ([], [])


def test_path_checkout_refuses_to_overwrite_an_edit(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """Restoring a path over an unstaged edit is refused without force, done with it."""
    repo, _, _ = two
    write(repo.root / "data/a", b"edit")
    with pytest.raises(UncommittedChanges, match="data/a"):
        repo.checkout("HEAD", paths=[str(repo.root / "data/a")])
    assert (repo.root / "data/a").read_bytes() == b"edit"
    repo.checkout("HEAD", paths=[str(repo.root / "data/a")], force=True)
    assert (repo.root / "data/a").read_bytes() == b"a2"
    assert repo.status().clean


def test_path_checkout_overlays_unless_no_overlay(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """``checkout old -- data`` keeps data/c (not in old) as git does; --no-overlay drops it."""
    repo, _, c2 = two
    repo.checkout("old", paths=[str(repo.root / "data")])
    assert files_of(repo.root) == {"data/a": b"a1", "data/b": b"b1", "data/c": b"c2"}
    assert repo.head() == ("main", c2)
    repo.checkout("old", paths=[str(repo.root / "data")], overlay=False)
    assert files_of(repo.root) == {"data/a": b"a1", "data/b": b"b1"}
    assert [(c.path, c.status) for c in repo.status().staged] == [
        (b"data/a", "modified"),
        (b"data/b", "added"),
        (b"data/c", "deleted"),
    ]


def test_overlay_replaces_a_file_where_the_revision_has_a_folder(repo: Repo) -> None:
    """The one removal an overlay makes: a file standing where the revision has a folder."""
    write(repo.root / "data/x/inner", b"in a folder")
    repo.add([repo.root / "data"])
    repo.commit("folder")
    (repo.root / "data/x/inner").unlink()
    (repo.root / "data/x").rmdir()
    write(repo.root / "data/x", b"now a file")
    write(repo.root / "data/keep", b"keep")
    repo.commit("file", all=True)
    repo.checkout("HEAD~1", paths=[str(repo.root / "data")])
    assert files_of(repo.root) == {"data/x/inner": b"in a folder", "data/keep": b"keep"}


def test_restoring_a_deleted_path_is_never_an_overwrite(
    two: tuple[Repo, ObjectId, ObjectId],
) -> None:
    """A file deleted and the deletion staged (``dvault add``) comes back with
    ``checkout HEAD -- f``: a missing file holds no work to lose."""
    repo, _, _ = two
    (repo.root / "data/a").unlink()
    repo.add([repo.root / "data"])
    repo.checkout("HEAD", paths=[str(repo.root / "data/a")])
    assert (repo.root / "data/a").read_bytes() == b"a2"
    assert repo.status().clean


def test_restore_from_the_stage_discards_edits_only(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """``checkout -- PATH`` puts back the staged content (not HEAD's), discarding the edit
    made after staging; new files and other paths stay."""
    repo, _, c2 = two
    write(repo.root / "data/a", b"staged")
    repo.add([repo.root / "data/a"])
    write(repo.root / "data/a", b"edited after staging")
    write(repo.root / "data/c", b"an edit elsewhere")
    write(repo.root / "data/new", b"untracked")
    repo.restore([str(repo.root / "data/a")])
    assert files_of(repo.root) == {
        "data/a": b"staged",
        "data/c": b"an edit elsewhere",
        "data/new": b"untracked",
    }
    st = repo.status()
    assert [(c.path, c.status) for c in st.staged] == [(b"data/a", "modified")]
    assert (st.modified, st.untracked) == ([b"data/c"], [b"data/new"])
    assert repo.head() == ("main", c2)
    with pytest.raises(UsageError, match="neither staged nor committed"):
        repo.restore([str(repo.root / "data/new")])


def test_symlink_escaping_the_work_tree_is_never_stored(repo: Repo) -> None:
    """A symlink pointing outside the project is never stored (checkout would refuse to
    create it: tests/test_hostile_checkout.py forges such trees), and the stage is left
    as it was."""
    write(repo.root / "data/a", b"a")
    repo.add([repo.root / "data"])
    repo.commit("one")
    os.symlink("../../outside", repo.root / "data/evil")
    stage = repo.state.stage()
    with pytest.raises(DvaultError, match="outside the work tree"):
        repo.commit("evil", all=True)
    assert repo.state.stage() == stage


# -- record -------------------------------------------------------------------------------


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every path that status (or checkout's own checks) reads and hashes."""
    calls: list[bytes] = []
    real: Callable[..., StageEntry] = status_mod.read_entry

    def counting(project: Path, path: bytes, st: FileStat, *rest: Any, **kw: Any) -> StageEntry:
        calls.append(path)
        return real(project, path, st, *rest, **kw)

    monkeypatch.setattr(status_mod, "read_entry", counting)
    return calls


def test_record_refreshes_stat_so_status_need_not_rehash(
    two: tuple[Repo, ObjectId, ObjectId], hashed: list[bytes]
) -> None:
    """After checkout the stage holds the written files' stat data: status is clean and reads
    only files written within the racy window, then nothing at all."""
    repo, _, _ = two
    repo.checkout("old")
    stage = repo.state.stage()
    for path in (b"data/a", b"data/b"):
        st = os.lstat(os.path.join(os.fsencode(repo.root), path))
        entry = stage[path]
        assert (entry.mtime_ns, entry.ctime_ns, entry.ino, entry.size) == (
            st.st_mtime_ns,
            st.st_ctime_ns,
            st.st_ino,
            st.st_size,
        )
        assert entry.cached_at >= st.st_mtime_ns
    racy = sorted(p for p, e in stage.items() if e.mtime_ns >= e.cached_at - RACY_NS)
    time.sleep(RACY_NS / 1e9)  # let the written files age past the racy window
    hashed.clear()
    assert repo.status().clean
    assert sorted(hashed) == racy
    hashed.clear()
    assert repo.status().clean
    assert hashed == []


# -- interrupted writes -------------------------------------------------------------------


@pytest.fixture
def many(repo: Repo) -> tuple[Repo, dict[str, bytes], dict[str, bytes]]:
    """HEAD at c1 (old contents) with c2 (new contents of every file) on branch main."""
    old = {f"data/f{i}": f"old {i}".encode() * 100 for i in range(6)}
    new = {k: v.replace(b"old", b"NEW!") + b"+" for k, v in old.items()}
    for rel, data in old.items():
        write(repo.root / rel, data)
    repo.add([repo.root / "data"])
    c1 = repo.commit("old")
    for rel, data in new.items():
        write(repo.root / rel, data)
    repo.commit("new", all=True)
    repo.checkout(c1.hex())
    assert files_of(repo.root) == old
    return repo, old, new


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), StorageError),
        (CorruptObject("bad"), CorruptObject),
    ],
)
def test_failed_write_leaves_no_temp_files_and_no_torn_files(
    many: tuple[Repo, dict[str, bytes], dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    raised: type[Exception],
) -> None:
    """When writing one file fails (full disk, bad object) after others were written, no
    temporary file is left behind, every file is entirely old or new, HEAD does not move,
    and a later checkout succeeds."""
    repo, old, new = many
    head = repo.head()
    real = co.write_temp
    one_written = threading.Event()

    def failing(
        store: ObjectStore, full: bytes, entry: TreeEntry, readers: Executor | None = None
    ) -> bytes:
        if full.endswith(b"/f5"):  # the last of its batch: the others' temps are complete
            one_written.wait(10)
            raise error
        tmp = real(store, full, entry, readers)
        one_written.set()
        return tmp

    monkeypatch.setattr(co, "write_temp", failing)
    with pytest.raises(raised):
        repo.checkout("main")
    leftovers = [p for p in files_of(repo.root) if p.endswith(".dvault-tmp")]
    assert leftovers == []
    for rel, data in files_of(repo.root).items():
        assert data in (old[rel], new[rel]), rel
    assert repo.head() == head

    monkeypatch.setattr(co, "write_temp", real)
    repo.checkout("main")
    assert files_of(repo.root) == new
    assert repo.status().clean
