"""Every user error: one line on stderr, no traceback, the exit code from DESIGN.md."""

from __future__ import annotations

from pathlib import Path

from .helpers import Project, Run, one_error_line


def test_not_a_repository(run: Run, tmp_path: Path) -> None:
    """Commands outside any repository exit 3 with 'not a dvault repository'."""
    empty = tmp_path / "nowhere"
    empty.mkdir()
    for args in (["status"], ["log"], ["commit", "-m", "x"], ["add", "x"], ["checkout", "v1"]):
        result = run(*args, cwd=empty)
        assert result.code == 3, result.describe()
        assert "not a dvault repository" in one_error_line(result)


def test_unknown_revision(tracked: Project) -> None:
    """An unknown revision name exits 2 and names the revision, for every command."""
    for args in (
        ["show", "nope"],
        ["show", "nope:data/a.txt"],
        ["log", "nope"],
        ["diff", "nope", "HEAD"],
        ["checkout", "nope"],
        ["branch", "b", "nope"],
        ["tag", "t", "nope"],
        ["show", "ffffffffffff"],
    ):
        result = tracked.fails(2, *args)
        assert "nope" in one_error_line(result) or "ffff" in result.err, result.describe()
    assert tracked.ok("tag", "--json").json() == []


def test_unknown_path_in_revision(tracked: Project) -> None:
    """`show REV:MISSING` is a usage error (exit 2) naming the path."""
    result = tracked.fails(2, "show", "HEAD:data/missing.txt")
    assert "data/missing.txt" in one_error_line(result)


def test_path_outside_repository(tracked: Project, tmp_path: Path) -> None:
    """Paths that resolve outside the project (or into .dvault) are refused with exit 2."""
    outside = tmp_path / "outside.txt"
    outside.write_text("x\n")
    for args in (
        ["add", str(outside)],
        ["add", "../outside.txt"],
        ["add", ".dvault/HEAD"],
        ["log", "--", "../outside.txt"],
        ["checkout", "HEAD", "--", "../outside.txt"],
    ):
        result = tracked.fails(2, *args)
        one_error_line(result)
    assert tracked.status()["clean"] is True


def test_add_missing_path(tracked: Project) -> None:
    """`add` of a path that does not exist exits 2 and changes nothing."""
    one_error_line(tracked.fails(2, "add", "no/such/dir"))
    assert tracked.status()["clean"] is True


def test_nothing_to_commit(tracked: Project) -> None:
    """`commit` with nothing staged exits 1 ('nothing to commit') and makes no commit."""
    head = tracked.head()
    assert "nothing to commit" in one_error_line(tracked.fails(1, "commit", "-m", "again"))
    assert "nothing to commit" in one_error_line(tracked.fails(1, "commit", "-a", "-m", "again"))
    assert tracked.head() == head
    assert len(tracked.log()) == 1


def test_commit_in_empty_repo_without_tracked_paths(project: Project) -> None:
    """`commit -a` before anything is tracked exits 1 and says how to start."""
    one_error_line(project.fails(1, "commit", "-a", "-m", "x"))
    one_error_line(project.fails(1, "commit", "-m", "x"))


def test_tag_exists_exit_2(tracked: Project) -> None:
    """Re-creating a tag exits 2 with one line naming the tag."""
    tracked.ok("tag", "v1")
    assert "v1" in one_error_line(tracked.fails(2, "tag", "v1"))


def test_init_twice(project: Project) -> None:
    """`init` on an existing repository exits 2 and leaves it intact."""
    assert "already exists" in one_error_line(project.fails(2, "init"))
    assert project.status()["branch"] == "main"


def test_bad_option_values(tracked: Project) -> None:
    """Malformed option values are usage errors (exit 2) without a traceback."""
    one_error_line(tracked.fails(2, "commit", "-a", "-m", "x", "--meta", "novalue"))
    one_error_line(tracked.fails(2, "add", "data", "--kind", "bogus"))
    one_error_line(tracked.fails(2, "tag", "bad name"))
    result = tracked.run("commit")  # missing -m: click's own usage error
    assert result.code == 2
    assert "Traceback" not in result.err
