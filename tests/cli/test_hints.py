"""Every command a refused checkout prints is run verbatim, and nothing is lost: a forced
checkout overwrites only the conflicting paths (kept in .dvault/lost+found) and carries
unrelated edits; the stash route keeps every edit in the repository."""

from __future__ import annotations

from pathlib import Path

from .helpers import Project, one_error_line
from .hint_commands import run_line, the_command


def _diverged(p: Project) -> None:
    """v1 (a, b), v2 changes a; then a local edit of a (conflicts with v1) and of b
    (unrelated: the switch to v1 does not touch b)."""
    p.write("data/a.txt", "a1\n")
    p.write("data/b.txt", "b1\n")
    p.ok("add", "data")
    p.commit("v1")
    p.ok("tag", "v1")
    p.write("data/a.txt", "a2\n")
    p.commit("v2")
    p.write("data/a.txt", "LOCAL a\n")
    p.write("data/b.txt", "LOCAL b\n")


def _refusal(p: Project) -> str:
    before = p.snapshot()
    line = one_error_line(p.fails(1, "checkout", "v1"))
    assert "data/a.txt" in line and "data/b.txt" not in line
    assert p.snapshot() == before
    return line


def test_forced_checkout_as_printed_keeps_a_copy_and_carries_the_rest(project: Project) -> None:
    """The printed `dvault checkout --force v1`: a is v1's (its edit copied to
    lost+found first), b's unrelated edit is carried (the old code discarded it), status
    lists the copy."""
    _diverged(project)
    command = the_command(_refusal(project), "--force")
    assert command == "dvault checkout --force v1"
    (out,) = run_line(project, command)
    assert "lost+found" in out.out
    assert (project.root / "data/a.txt").read_text() == "a1\n"
    assert (project.root / "data/b.txt").read_text() == "LOCAL b\n"
    kept = list((project.root / ".dvault" / "lost+found").glob("*/data/a.txt"))
    assert [k.read_text() for k in kept] == ["LOCAL a\n"]
    status = project.ok("status").out
    assert "1 file(s) kept in .dvault/lost+found by checkout --force" in status
    assert "modified: data/b.txt" in status
    listed = project.status()["lost_found"]
    assert len(listed) == 1 and listed[0]["files"] == 1


def test_stash_route_as_printed_loses_nothing(project: Project) -> None:
    """The printed `dvault stash push && dvault checkout v1`: the workspace is v1 and both
    edits are in the stash; back on main, pop brings both back."""
    _diverged(project)
    run_line(project, the_command(_refusal(project), "stash"))
    assert (project.root / "data/a.txt").read_text() == "a1\n"
    assert (project.root / "data/b.txt").read_text() == "b1\n"
    project.ok("checkout", "main")
    project.ok("stash", "pop")
    assert (project.root / "data/a.txt").read_text() == "LOCAL a\n"
    assert (project.root / "data/b.txt").read_text() == "LOCAL b\n"


def test_forced_paths_checkout_as_printed(project: Project) -> None:
    """`checkout v1 -- data/a.txt` refused over an edit: the printed forced command
    restores that path and keeps the edit."""
    _diverged(project)
    line = one_error_line(project.fails(1, "checkout", "v1", "--", "data/a.txt"))
    command = the_command(line, "--force")
    assert command == "dvault checkout --force v1 -- data/a.txt"
    run_line(project, command)
    assert (project.root / "data/a.txt").read_text() == "a1\n"
    assert (project.root / "data/b.txt").read_text() == "LOCAL b\n"
    assert list((project.root / ".dvault" / "lost+found").glob("*/data/a.txt"))


def test_merge_refusal_as_printed(project: Project) -> None:
    """`dvault merge relabel` over an edit: the printed `dvault stash push && dvault merge
    relabel`, then `dvault stash pop`: merged, and the edit back."""
    project.write("data/a.txt", "a1\n")
    project.write("data/b.txt", "b1\n")
    project.ok("add", "data")
    project.commit("v1")
    project.ok("branch", "relabel")
    project.ok("checkout", "relabel")
    project.write("data/a.txt", "a relabelled\n")
    project.commit("relabel a")
    project.ok("checkout", "main")
    project.write("data/b.txt", "LOCAL b\n")
    line = one_error_line(project.fails(1, "merge", "relabel"))
    run_line(project, the_command(line, "dvault merge"))
    assert (project.root / "data/a.txt").read_text() == "a relabelled\n"
    assert (project.root / "data/b.txt").read_text() == "b1\n"
    run_line(project, the_command(line, "stash pop"))
    assert (project.root / "data/b.txt").read_text() == "LOCAL b\n"
    (listing,) = run_line(project, the_command(line, "dvault status"))
    assert "modified: data/b.txt" in listing.out


def test_pull_refusal_as_printed(project: Project, tmp_path: Path) -> None:
    """A pull whose fast-forward would overwrite an edit: the printed `dvault stash push`,
    then the same pull, goes through; the edit is kept in the stash."""
    project.write("data/a.txt", "a1\n")
    project.ok("add", "data")
    project.commit("v1")
    remote = tmp_path / "remote"
    project.ok("remote", "add", "--init", "origin", str(remote))
    project.ok("push", "origin", "main")
    project.ok("clone", str(remote), str(tmp_path / "bob"))
    bob = Project(tmp_path / "bob", project.env)
    project.write("data/a.txt", "a2 from alice\n")
    project.commit("v2")
    project.ok("push", "origin", "main")
    bob.write("data/a.txt", "LOCAL bob\n")
    line = one_error_line(bob.fails(1, "pull"))
    assert "data/a.txt" in line
    run_line(bob, the_command(line, "stash push"))
    bob.ok("pull")
    assert (bob.root / "data/a.txt").read_text() == "a2 from alice\n"
    changes = bob.ok("stash", "show", "--json").json()["changes"]
    assert changes == [{"path": "data/a.txt", "status": "modified"}]


def test_revert_refusal_as_printed(project: Project) -> None:
    """`dvault revert REV` over an edit of a path it restores: the printed `dvault stash
    push`, then the revert again, goes through; the edit is in `dvault stash list`."""
    project.write("data/a.txt", "a1\n")
    project.ok("add", "data")
    project.commit("v1")
    project.write("data/a.txt", "a2 mistake\n")
    bad = project.commit("mistake")
    project.write("data/a.txt", "LOCAL\n")
    line = one_error_line(project.fails(1, "revert", bad))
    run_line(project, the_command(line, "stash push"))
    project.ok("revert", bad)
    assert (project.root / "data/a.txt").read_text() == "a1\n"
    (listed,) = run_line(project, the_command(line, "stash list"))
    assert "stash@{0}" in listed.out
    shown = project.ok("stash", "show", "--json").json()["changes"]
    assert shown == [{"path": "data/a.txt", "status": "modified"}]


def test_forced_paths_checkout_from_a_subdirectory(project: Project) -> None:
    """Run in data/, the printed command names the path as typed there, and works there."""
    _diverged(project)
    here = project.root / "data"
    result = project.run("checkout", "v1", "--", "a.txt", cwd=here)
    assert result.code == 1, result.describe()
    command = the_command(one_error_line(result), "--force")
    assert command == "dvault checkout --force v1 -- a.txt"
    project.ok(*command.split()[1:], cwd=here)
    assert (here / "a.txt").read_text() == "a1\n"
