"""``remote add`` cannot send data to the wrong place (issue 20, item 6): a directory
remote must exist and be a dvault remote, or be created on purpose with ``--init`` /
``remote init``; a path inside the project and a mistyped scheme are refused; a push to
a directory that vanished (unmounted) fails and never recreates it."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from .helpers import Project, one_error_line, snapshot


def _remotes(proj: Project) -> list[dict[str, str]]:
    found: list[dict[str, str]] = proj.ok("remote", "list", "--json").json()
    return found


def _run_hint(proj: Project, line: str) -> None:
    """Run the command a message quotes between backticks (``dvault ...``)."""
    command = line.split("`")[1]
    words = shlex.split(command)
    assert words[0] == "dvault", line
    proj.ok(*words[1:])


def test_missing_directory_is_refused_and_the_hint_creates_it(
    tracked: Project, tmp_path: Path
) -> None:
    target = tmp_path / "backup"
    config = (tracked.root / ".dvault" / "config").read_bytes()
    line = one_error_line(tracked.fails(2, "remote", "add", "nas", str(target)))
    assert "is not a dvault remote (no such directory)" in line
    assert f"`dvault remote add --init nas {target}`" in line
    assert not target.exists()
    assert (tracked.root / ".dvault" / "config").read_bytes() == config

    _run_hint(tracked, line)  # creates it, records it
    assert (target / "dvault-remote.json").is_file()
    assert [r["name"] for r in _remotes(tracked)] == ["nas"]
    tracked.ok("push", "nas", "main")

    # a second project joins the existing remote without --init
    other = Project(tmp_path / "other", tracked.env)
    other.root.mkdir()
    other.ok("init")
    other.ok("remote", "add", "nas", str(target))
    other.ok("fetch", "nas")


def test_existing_directory_without_the_marker_is_refused(project: Project, tmp_path: Path) -> None:
    """An empty directory may be the mount point of an unmounted disk: not a remote."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    line = one_error_line(project.fails(2, "remote", "add", "nas", str(mount)))
    assert "no dvault-remote.json there" in line
    assert list(mount.iterdir()) == []
    _run_hint(project, line)
    assert (mount / "dvault-remote.json").is_file()


@pytest.mark.parametrize("where", ["/nonexistent/x", "unmounted/x"])
def test_init_needs_an_existing_parent(project: Project, tmp_path: Path, where: str) -> None:
    target = Path(where) if where.startswith("/") else tmp_path / where
    config = (project.root / ".dvault" / "config").read_bytes()
    line = one_error_line(project.fails(2, "remote", "add", "--init", "nas", str(target)))
    assert f"its parent {target.parent} does not exist (not mounted?)" in line
    assert not target.parent.exists()
    assert (project.root / ".dvault" / "config").read_bytes() == config


@pytest.mark.parametrize("inside", ["backup", ".dvault/backup", "."])
def test_a_path_inside_the_project_is_refused(project: Project, inside: str) -> None:
    before = snapshot(project.root)
    for extra in ([], ["--init"]):
        line = one_error_line(project.fails(2, "remote", "add", *extra, "nas", inside))
        assert "is inside the project" in line
    assert snapshot(project.root) == before


@pytest.mark.parametrize(
    ("url", "meant"),
    [
        ("s3:/bucket/x", "did you mean s3://bucket/x?"),
        ("s3//bucket/x", "did you mean s3://bucket/x?"),
        ("s4://bucket/x", "did you mean s3://bucket/x?"),
        ("s3:bucket/x", "did you mean s3://bucket/x?"),
        ("file:/srv/x", "did you mean file:///srv/x?"),
        ("file://srv/x", "did you mean file:///srv/x?"),
        ("C:\\data", "Windows drive path"),
        ("ftp://host/x", "unsupported remote URL"),
    ],
)
def test_a_mistyped_scheme_is_refused(project: Project, url: str, meant: str) -> None:
    before = snapshot(project.root)
    for extra in ([], ["--init"]):
        line = one_error_line(project.fails(2, "remote", "add", *extra, "bad", url))
        assert meant in line
    assert snapshot(project.root) == before
    assert _remotes(project) == []


def test_push_to_an_unmounted_remote_fails_and_never_recreates_it(
    tracked: Project, tmp_path: Path
) -> None:
    mount = tmp_path / "nas"
    mount.mkdir()
    tracked.ok("remote", "add", "--init", "nas", str(mount / "vision"))
    shutil.rmtree(mount)  # unmounted: the mount point is gone too
    for command in (["push", "nas", "main"], ["fetch", "nas"]):
        line = one_error_line(tracked.fails(3, *command))
        assert "the directory is not there (not mounted, or removed?)" in line
    assert not mount.exists()

    # the mount point is there, empty (the disk is not mounted): nothing is sent
    (mount / "vision").mkdir(parents=True)
    line = one_error_line(tracked.fails(3, "push", "nas", "main"))
    assert "is not a dvault remote" in line
    assert list((mount / "vision").iterdir()) == []
    assert "`dvault remote init nas`" in line
    _run_hint(tracked, line)  # the user says it is new after all
    tracked.ok("push", "nas", "main")
    assert (mount / "vision" / "dvault-remote.json").is_file()


def test_remote_init_of_an_existing_remote_changes_nothing(
    tracked: Project, tmp_path: Path
) -> None:
    tracked.ok("remote", "add", "--init", "nas", str(tmp_path / "r"))
    tracked.ok("push", "nas", "main")
    before = snapshot(tmp_path / "r")
    out = tracked.ok("remote", "init", "nas").err + tracked.ok("remote", "init", "nas").out
    assert "already is a dvault remote" in out
    assert snapshot(tmp_path / "r") == before
    line = one_error_line(tracked.fails(2, "remote", "init", "nope"))
    assert "no remote named 'nope'" in line
