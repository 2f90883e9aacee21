"""dvault stash: edits put aside in the repository and brought back exactly, conflicts
refused with nothing changed."""

from __future__ import annotations

from .helpers import Project, one_error_line
from .hint_commands import run_line, the_command


def _base(p: Project) -> dict[str, tuple[str, ...]]:
    p.write("data/a.txt", "a1\n")
    p.write("data/b.txt", "b1\n")
    p.write("data/sub/c.txt", "c1\n")
    p.ok("add", "data")
    p.commit("v1")
    return p.snapshot()


def _edit(p: Project) -> dict[str, tuple[str, ...]]:
    p.write("data/a.txt", "a2 edited\n")
    (p.root / "data" / "b.txt").unlink()
    p.write("data/new/n.bin", b"\x00new\xff")
    return p.snapshot()


def test_push_pop_round_trip(project: Project) -> None:
    """push saves modified, deleted and new files and leaves the workspace at HEAD; pop
    brings back every byte and drops the entry."""
    committed = _base(project)
    edited = _edit(project)
    project.ok("stash", "push", "-m", "half done")
    assert project.snapshot() == committed
    assert project.run("status", "--exit-code").code == 0
    listed = project.ok("stash", "list", "--json").json()
    assert [e["message"] for e in listed] == ["half done"]
    shown = project.ok("stash", "show").out
    assert "M  data/a.txt" in shown and "D  data/b.txt" in shown and "A  data/new/n.bin" in shown
    # the entry is kept by the repository: gc does not collect its objects
    project.ok("gc", "--keep-within", "0s")
    project.ok("stash", "pop")
    assert project.snapshot() == edited
    assert project.ok("stash", "list", "--json").json() == []
    assert project.ok("verify", "--read-data").code == 0


def test_pop_on_a_moved_head_and_apply_keeps(project: Project) -> None:
    """An unrelated commit since the push: pop applies on top of it; apply keeps the
    entry."""
    _base(project)
    project.write("data/a.txt", "a2 edited\n")
    project.ok("stash", "push")
    project.write("data/sub/c.txt", "c2 committed\n")
    project.commit("c2")
    project.ok("stash", "apply", "stash@{0}")
    assert (project.root / "data/a.txt").read_text() == "a2 edited\n"
    assert (project.root / "data/sub/c.txt").read_text() == "c2 committed\n"
    assert len(project.ok("stash", "list", "--json").json()) == 1
    project.ok("commit", "-a", "-m", "a2")
    project.ok("stash", "drop", "0")
    assert project.ok("stash", "list", "--json").json() == []


def test_pop_conflict_changes_nothing(project: Project) -> None:
    """The same file changed in the entry and committed since: refused in one line naming
    it, the workspace and the entry unchanged."""
    _base(project)
    project.write("data/a.txt", "stashed\n")
    project.write("data/new.txt", "new\n")
    project.ok("stash", "push")
    project.write("data/a.txt", "committed\n")
    project.commit("other a")
    before = project.snapshot()
    result = project.fails(1, "stash", "pop")
    line = one_error_line(result)
    assert "data/a.txt" in line and "kept" in line
    assert project.snapshot() == before
    assert len(project.ok("stash", "list", "--json").json()) == 1
    # an uncommitted edit of a stashed path is a conflict too
    project.ok("reset", "--hard", "HEAD~1")
    project.write("data/a.txt", "local\n")
    before = project.snapshot()
    assert "data/a.txt" in one_error_line(project.fails(1, "stash", "pop"))
    assert project.snapshot() == before


def test_push_paths_only(project: Project) -> None:
    """push -- PATH stashes that path only: other edits stay in the workspace."""
    _base(project)
    project.write("data/a.txt", "a2\n")
    project.write("data/sub/c.txt", "c2\n")
    project.ok("stash", "push", "--", "data/sub")
    assert (project.root / "data/sub/c.txt").read_text() == "c1\n"
    assert (project.root / "data/a.txt").read_text() == "a2\n"
    project.ok("checkout", "-f", "HEAD", "--", "data/a.txt")
    project.ok("stash", "pop")
    assert (project.root / "data/sub/c.txt").read_text() == "c2\n"
    assert (project.root / "data/a.txt").read_text() == "a1\n"


def test_nothing_to_save_and_bad_input(project: Project) -> None:
    """A clean workspace saves nothing; bad entries are one line, exit 2, nothing
    changed."""
    committed = _base(project)
    out = project.ok("stash", "push").out
    assert "no local changes" in out
    assert project.ok("stash", "list", "--json").json() == []
    for args in (["pop"], ["drop", "3"], ["show", "x"], ["apply", "stash@{9}"]):
        result = project.fails(2, "stash", *args)
        assert "stash" in one_error_line(result)
    assert project.snapshot() == committed


def test_a_staged_version_not_on_disk_is_refused(project: Project) -> None:
    """A staged version that is neither on disk nor committed would be dropped: refused,
    nothing changed; the printed `dvault add PATH` then lets push save the file."""
    _base(project)
    project.write("data/a.txt", "staged version\n")
    project.ok("add", "data/a.txt")
    project.write("data/a.txt", "on disk now\n")
    before = project.snapshot()
    line = one_error_line(project.fails(1, "stash", "push"))
    assert project.snapshot() == before and project.ok("stash", "list", "--json").json() == []
    run_line(project, the_command(line, "dvault add"))
    project.ok("stash", "push")
    project.ok("stash", "pop")
    assert (project.root / "data/a.txt").read_text() == "on disk now\n"


def test_refused_during_a_merge(project: Project) -> None:
    """A merge stopped on conflicts: stash push and pop are refused (exit 2)."""
    _base(project)
    project.ok("branch", "other")
    project.write("data/a.txt", "ours\n")
    project.commit("ours")
    project.ok("checkout", "other")
    project.write("data/a.txt", "theirs\n")
    project.commit("theirs")
    project.ok("checkout", "main")
    project.fails(1, "merge", "other")
    before = project.snapshot()
    assert "merge is in progress" in one_error_line(project.fails(2, "stash", "push"))
    assert "merge is in progress" in one_error_line(project.fails(2, "stash", "pop"))
    assert project.snapshot() == before
