"""The library API (dvault.repo.Repo): opening, paths, commits, refs, rm, log and diff."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dvault.errors import (
    InvalidName,
    NotARepository,
    NothingToCommit,
    PathOutsideRepository,
    RefExists,
    RepositoryExists,
    UncommittedChanges,
    UsageError,
)
from dvault.hashing import ObjectId
from dvault.repo import DVAULT_DIR, Repo
from dvault.trees import flatten


def write(path: Path, data: bytes) -> Path:
    """Write ``path`` with an mtime 10 s in the past (not racy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    st = os.lstat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 10_000_000_000))
    return path


def git_init(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(["git", "init", "-q", str(path)], check=True, env=env)


# -- init and open ------------------------------------------------------------------------


def test_init_creates_a_complete_repository(tmp_path: Path) -> None:
    """init creates .dvault with HEAD on main, a config, and no temp directory left."""
    with Repo.init(tmp_path / "proj") as repo:
        assert repo.root == (tmp_path / "proj").resolve()
        assert (repo.dir / "HEAD").read_text() == "ref: refs/heads/main\n"
        assert (repo.dir / "config").is_file()
        assert repo.head() == ("main", None)
    assert [p.name for p in (tmp_path / "proj").iterdir()] == [DVAULT_DIR]


def test_second_init_is_refused(repo: Repo) -> None:
    """init where a repository exists fails with RepositoryExists and keeps the old one."""
    write(repo.root / "data/a", b"a")
    repo.add([repo.root / "data"])
    oid = repo.commit("keep me")
    with pytest.raises(RepositoryExists):
        Repo.init(repo.root)
    repo.close()
    with Repo.open(repo.root) as again:
        assert again.resolve("HEAD") == oid


def test_open_from_a_subdirectory(repo: Repo) -> None:
    """open finds the project from any directory below it."""
    sub = repo.root / "data" / "deep" / "er"
    sub.mkdir(parents=True)
    with Repo.open(sub) as found:
        assert found.root == repo.root


@pytest.mark.parametrize("found", ["2", '"1"', "true"])
def test_open_refuses_a_format_it_does_not_read(repo: Repo, found: str) -> None:
    """A repository written by a newer dvault (or a damaged config) is refused on open, by
    the library and the CLI alike, naming the config file and the format it found; the
    repository is left as it was."""
    config = repo.dir / "config"
    config.write_text(config.read_text().replace("format = 1", f"format = {found}"))
    before = sorted(p.name for p in repo.dir.iterdir())
    repo.close()
    with pytest.raises(NotARepository, match=r"config: core.format = .* is not a format"):
        Repo.open(repo.root)
    proc = subprocess.run(
        [sys.executable, "-m", "dvault", "status"], cwd=repo.root, capture_output=True, text=True
    )
    assert proc.returncode == 3
    assert proc.stderr.count("\n") == 1 and "core.format" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in repo.dir.iterdir()) == before


def test_open_outside_any_repository(tmp_path: Path) -> None:
    """open where no parent holds .dvault raises NotARepository naming the path."""
    (tmp_path / "plain").mkdir()
    with pytest.raises(NotARepository, match="plain"):
        Repo.open(tmp_path / "plain")


def test_init_inside_git_goes_to_the_git_root(tmp_path: Path) -> None:
    """init in a subdirectory of a git work tree puts .dvault at the git root."""
    git_init(tmp_path / "project")
    sub = tmp_path / "project" / "src" / "data"
    sub.mkdir(parents=True)
    with Repo.init(sub) as repo:
        assert repo.root == (tmp_path / "project").resolve()
        assert (tmp_path / "project" / DVAULT_DIR / "HEAD").is_file()
    assert not (sub / DVAULT_DIR).exists()
    with Repo.open(sub) as repo:
        assert repo.root == (tmp_path / "project").resolve()


def test_add_inside_git_updates_gitignore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tracked roots are added to the git root's .gitignore once, keeping existing lines."""
    monkeypatch.setenv("DVAULT_AUTHOR", "T <t@e>")
    git_init(tmp_path / "project")
    (tmp_path / "project/.gitignore").write_text("*.pyc")
    with Repo.init(tmp_path / "project") as repo:
        write(repo.root / "data/a", b"a")
        write(repo.root / "model.pt", b"w")
        repo.add([repo.root / "data", repo.root / "model.pt"])
        repo.add([repo.root / "data"])
    lines = (tmp_path / "project/.gitignore").read_text().splitlines()
    assert lines[0] == "*.pyc"
    assert lines.count("/data") == 1
    assert lines.count("/model.pt") == 1


# -- paths --------------------------------------------------------------------------------


def test_relpath(repo: Repo, tmp_path: Path) -> None:
    """User paths become project-relative bytes; relative paths are taken from ``cwd``."""
    assert repo.relpath(repo.root / "data" / "a") == b"data/a"
    assert repo.relpath("a", cwd=repo.root / "data") == b"data/a"
    assert repo.relpath("../x/./y", cwd=repo.root / "data") == b"x/y"
    assert repo.relpath(repo.root) == b""


def test_relpath_refuses_outside_and_internal_paths(repo: Repo, tmp_path: Path) -> None:
    """Paths outside the project, or inside .dvault or .git, are refused."""
    with pytest.raises(PathOutsideRepository, match="outside"):
        repo.relpath(tmp_path / "elsewhere")
    with pytest.raises(PathOutsideRepository):
        repo.relpath("../../escape", cwd=repo.root / "data")
    with pytest.raises(PathOutsideRepository, match=r"\.dvault"):
        repo.relpath(repo.root / ".dvault" / "HEAD")
    with pytest.raises(PathOutsideRepository, match=r"\.git"):
        repo.relpath(repo.root / ".git" / "config")


# -- commit -------------------------------------------------------------------------------


def test_commit_records_tree_roots_meta_and_parent(repo: Repo) -> None:
    """A commit records the stage's tree, the tracked roots with kinds, lineage metadata, the
    author and its parent, and moves the current branch."""
    write(repo.root / "images/a.png", b"png")
    write(repo.root / "labels/a.json", b"{}")
    repo.add([repo.root / "images", repo.root / "labels"])
    first = repo.commit("first", meta={"git_commit": "abc123", "params": {"lr": 0.1}})
    c = repo.read_commit(first)
    assert c.parents == ()
    assert c.roots == {"images": "dataset", "labels": "labels"}
    assert c.meta["git_commit"] == "abc123"
    assert c.meta["params"] == {"lr": 0.1}
    assert "host" in c.meta
    assert c.author == "Test <test@example.com>"
    assert c.message == "first"
    assert c.tree == repo.state.stage_tree()
    assert set(flatten(repo.store, c.tree)) >= {b"images/a.png", b"labels/a.json"}
    assert repo.head() == ("main", first)

    write(repo.root / "images/b.png", b"png2")
    second = repo.commit("second", all=True)
    assert repo.read_commit(second).parents == (first,)
    assert b"images/b.png" in flatten(repo.store, repo.read_commit(second).tree)


def test_nothing_to_commit(repo: Repo) -> None:
    """Committing with nothing staged, or a stage equal to HEAD, raises NothingToCommit."""
    with pytest.raises(NothingToCommit):
        repo.commit("empty repo")
    with pytest.raises(NothingToCommit):
        repo.commit("nothing tracked", all=True)
    write(repo.root / "data/a", b"a")
    repo.add([repo.root / "data"])
    first = repo.commit("first")
    with pytest.raises(NothingToCommit):
        repo.commit("again")
    with pytest.raises(NothingToCommit):
        repo.commit("again", all=True)
    assert repo.head() == ("main", first)
    allowed = repo.commit("marker", allow_empty=True)
    assert repo.read_commit(allowed).parents == (first,)


def test_kind_change_alone_is_committable(repo: Repo) -> None:
    """Changing only a root's kind is a change worth a commit (the tree is the same)."""
    write(repo.root / "data/a", b"a")
    repo.add([repo.root / "data"])
    repo.commit("first")
    repo.add([repo.root / "data"], kind="features")
    oid = repo.commit("now features")
    assert repo.read_commit(oid).roots == {"data": "features"}


def test_empty_message_is_refused(repo: Repo) -> None:
    """A commit needs a message."""
    write(repo.root / "data/a", b"a")
    repo.add([repo.root / "data"])
    with pytest.raises(UsageError, match="message"):
        repo.commit("   ")


# -- branches and tags --------------------------------------------------------------------


@pytest.fixture
def two(repo: Repo) -> tuple[Repo, ObjectId, ObjectId]:
    """data/a committed twice: c1 then c2 (HEAD on main); other/b and other/c unchanged."""
    write(repo.root / "data/a", b"v1")
    write(repo.root / "other/b", b"b")
    write(repo.root / "other/c", b"c")
    repo.add([repo.root / "data", repo.root / "other"])
    c1 = repo.commit("one")
    write(repo.root / "data/a", b"v2")
    c2 = repo.commit("two", all=True)
    return repo, c1, c2


def test_tags_never_move(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """Re-creating a tag fails with RefExists, even for the same commit; the tag is unchanged."""
    repo, c1, c2 = two
    repo.tag("v1", c1.hex(), message="first release")
    with pytest.raises(RefExists):
        repo.tag("v1", c2.hex())
    with pytest.raises(RefExists):
        repo.tag("v1", c1.hex())
    assert repo.resolve("v1") == c1
    tag = repo.read_tag(repo.refs.tags()["v1"])
    assert (tag.object, tag.name, tag.message) == (c1, "v1", "first release")


def test_invalid_tag_and_branch_names(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """Names git would refuse are refused."""
    repo, _, _ = two
    for bad in ("a..b", "-x", "has space", "x.lock", "HEAD", "a~1"):
        with pytest.raises(InvalidName):
            repo.tag(bad)
        with pytest.raises(InvalidName):
            repo.branch(bad)


def test_branches(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """branch creates a name at a revision; existing names are refused; the current branch
    cannot be deleted, another can."""
    repo, c1, c2 = two
    assert repo.branch("exp", c1.hex()) == c1
    assert repo.branch("here") == c2
    with pytest.raises(RefExists):
        repo.branch("exp")
    with pytest.raises(UsageError, match="current branch"):
        repo.delete_branch("main")
    assert repo.delete_branch("exp") == c1
    assert "exp" not in repo.refs.branches()
    with pytest.raises(UsageError):
        repo.delete_branch("exp")


def test_decorations(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """Log decorations name HEAD with its branch, other branches and peeled tags."""
    repo, c1, c2 = two
    repo.branch("exp", c1.hex())
    repo.tag("v1", c1.hex())
    names = repo.decorations()
    assert names[c2] == ["HEAD -> main"]
    assert sorted(names[c1]) == ["exp", "tag: v1"]


# -- rm -----------------------------------------------------------------------------------


def test_rm_deletes_tracked_files_and_stops_tracking(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """rm of a root removes its files from disk, stage and roots."""
    repo, _, _ = two
    assert sorted(repo.rm([repo.root / "other"])) == ["other/b", "other/c"]
    assert not (repo.root / "other/b").exists()
    assert repo.roots() == {"data": "dataset"}
    assert list(repo.state.stage()) == [b"data/a"]
    st = repo.status()
    assert [(c.path, c.status) for c in st.staged] == [
        (b"other/b", "deleted"),
        (b"other/c", "deleted"),
    ]


def test_rm_refuses_to_delete_unstaged_work(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """rm will not delete a file whose edits exist nowhere else; nothing changes."""
    repo, _, _ = two
    write(repo.root / "data/a", b"unsaved edit")
    with pytest.raises(UncommittedChanges, match="data/a"):
        repo.rm([repo.root / "data"])
    assert (repo.root / "data/a").read_bytes() == b"unsaved edit"
    assert repo.roots() == {"data": "dataset", "other": "dataset"}
    assert b"data/a" in repo.state.stage()


def test_rm_cached_keeps_the_file(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """rm --cached stops tracking but leaves the (even modified) file on disk."""
    repo, _, _ = two
    write(repo.root / "data/a", b"unsaved edit")
    assert repo.rm([repo.root / "data"], cached=True) == ["data/a"]
    assert (repo.root / "data/a").read_bytes() == b"unsaved edit"
    assert "data" not in repo.roots()
    assert b"data/a" not in repo.state.stage()
    assert repo.status().untracked == []  # no longer under a root


def test_rm_of_untracked_path_is_a_usage_error(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """rm of something not tracked is a usage error."""
    repo, _, _ = two
    write(repo.root / "loose.txt", b"x")
    with pytest.raises(UsageError, match="not tracked"):
        repo.rm([repo.root / "loose.txt"])
    assert (repo.root / "loose.txt").exists()


# -- log ----------------------------------------------------------------------------------


def test_log_lists_newest_first(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """log walks from HEAD (or a given revision) to the root, newest first."""
    repo, c1, c2 = two
    assert [e.id for e in repo.log()] == [c2, c1]
    assert [e.id for e in repo.log(c1.hex())] == [c1]
    assert next(iter(repo.log())).refs == ("HEAD -> main",)


def test_log_of_empty_repository(repo: Repo) -> None:
    """log before the first commit yields nothing."""
    assert list(repo.log()) == []


def test_log_with_paths_keeps_commits_touching_them(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """log -- PATH lists only commits that changed something under PATH."""
    repo, c1, c2 = two
    write(repo.root / "other/b", b"b2")
    c3 = repo.commit("three", all=True)
    assert [e.id for e in repo.log(paths=[str(repo.root / "data")])] == [c2, c1]
    assert [e.id for e in repo.log(paths=[str(repo.root / "other/b")])] == [c3, c1]
    assert [e.id for e in repo.log(paths=[str(repo.root / "nothing")])] == []


# -- diff ---------------------------------------------------------------------------------


def test_diff_between_revisions(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """diff OLD NEW lists the changed leaves, optionally restricted to paths."""
    repo, c1, c2 = two
    changes = repo.diff(c1.hex(), c2.hex())
    assert [(c.path, c.status) for c in changes] == [(b"data/a", "modified")]
    assert repo.diff(c1.hex(), c2.hex(), paths=[str(repo.root / "other")]) == []
    back = repo.diff(c2.hex(), c1.hex())
    assert back[0].new is not None and changes[0].old is not None
    assert back[0].new.id == changes[0].old.id
    assert repo.diff("HEAD", "HEAD") == []


def test_diff_against_the_workspace(two: tuple[Repo, ObjectId, ObjectId]) -> None:
    """diff with one revision compares it to the workspace: edits, deletions and new files."""
    repo, c1, _ = two
    assert repo.diff() == []
    write(repo.root / "data/a", b"edited")
    (repo.root / "other/b").unlink()
    write(repo.root / "data/new", b"new")
    changes = {c.path: c.status for c in repo.diff()}
    assert changes == {b"data/a": "modified", b"other/b": "deleted", b"data/new": "added"}
    assert {c.path for c in repo.diff(paths=[str(repo.root / "data")])} == {
        b"data/a",
        b"data/new",
    }
    # against an older revision, data/a differs too; a staged edit counts as workspace
    write(repo.root / "data/a", b"v2")
    assert {c.path: c.status for c in repo.diff(c1.hex())} == {
        b"data/a": "modified",
        b"other/b": "deleted",
        b"data/new": "added",
    }
    assert {c.path for c in repo.diff()} == {b"other/b", b"data/new"}
