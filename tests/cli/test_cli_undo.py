"""`dvault revert` and `dvault reset`, through the real program."""

from __future__ import annotations

import hashlib
import os

from .helpers import Project, one_error_line, sha256

IMAGE = os.urandom(50_000)


def labelled(project: Project) -> Project:
    """data/ with labels.csv and two images, committed as "first"."""
    project.write("data/labels.csv", "img1,c01\nimg2,c02\n")
    project.write("data/img1.png", IMAGE)
    project.write("data/img2.png", b"\x89PNG two")
    project.ok("add", "data")
    project.ok("commit", "-m", "first")
    return project


def bad_relabel(project: Project) -> str:
    """A commit that relabels c01 and deletes an image; returns its id."""
    project.write("data/labels.csv", "img1,c99\nimg2,c02\n")
    (project.root / "data/img1.png").unlink()
    return project.commit("relabel c01")


def state(project: Project) -> tuple[object, ...]:
    """What a refused command must leave unchanged: workspace, status, log, refs, packs."""
    return (
        sorted(p.name for p in (project.root / ".dvault/packs").iterdir()),
        project.snapshot(),
        project.status(),
        project.log(),
        project.ok("branch", "--json").json(),
    )


def test_revert_restores_relabelled_and_deleted_bytes(project: Project) -> None:
    """Reverting a relabel brings back the old labels and the deleted image byte for
    byte, as a new commit on top (history kept) that records what it reverts."""
    labelled(project)
    before = project.snapshot()
    bad = bad_relabel(project)
    project.write("data/img3.png", b"a later image")  # a later change elsewhere
    later = project.commit("add img3")
    result = project.ok("revert", bad)
    assert bad[:12] in result.out
    expected = dict(before)
    expected["img3.png"] = project.snapshot()["img3.png"]
    assert project.snapshot() == expected
    assert sha256(project.root / "data/img1.png") == hashlib.sha256(IMAGE).hexdigest()
    assert (project.root / "data/labels.csv").read_text() == "img1,c01\nimg2,c02\n"
    log = project.log()
    assert [e["id"] for e in log[1:3]] == [later, bad]
    assert log[0]["message"].startswith('Revert "relabel c01"')
    assert project.status()["clean"] is True
    shown = project.ok("show", "HEAD", "--json").json()
    assert shown["meta"]["reverts"] == bad, shown


def test_revert_message_and_json(project: Project) -> None:
    """-m sets the message; --json names the new commit, what it reverts and the paths."""
    labelled(project)
    bad = bad_relabel(project)
    data = project.ok("revert", "HEAD", "-m", "undo the c01 relabel", "--json").json()
    assert data["reverts"] == bad
    assert data["commit"] == project.head()
    assert sorted(data["paths"]) == ["data/img1.png", "data/labels.csv"]
    assert project.log()[0]["message"] == "undo the c01 relabel"


def test_revert_of_root_commit_deletes_what_it_added(project: Project) -> None:
    """Reverting the first commit removes the files it added (a new commit, not a rewrite)."""
    labelled(project)
    project.write("data/extra.txt", "kept\n")
    project.commit("extra")
    project.ok("revert", "HEAD~1")
    assert sorted(project.snapshot()) == ["extra.txt"]
    assert len(project.log()) == 3


def test_revert_over_a_later_change_is_refused(project: Project) -> None:
    """A path changed again since the reverted commit: exit 2, one line naming it, and
    nothing changes (workspace, stage, history)."""
    labelled(project)
    bad = bad_relabel(project)
    project.write("data/labels.csv", "img1,c77\nimg2,c02\n")
    project.commit("relabel again")
    before = state(project)
    line = one_error_line(project.fails(2, "revert", bad))
    assert "data/labels.csv" in line and "nothing written" in line
    assert state(project) == before


def test_revert_refuses_uncommitted_changes_in_touched_paths(project: Project) -> None:
    """An edit not committed yet in a path the revert would restore: refused (exit 1),
    the edit kept; an edit elsewhere does not stop it and is kept too."""
    labelled(project)
    bad = bad_relabel(project)
    project.write("data/labels.csv", "my work in progress\n")
    before = state(project)
    line = one_error_line(project.fails(1, "revert", bad))
    assert "data/labels.csv" in line
    assert state(project) == before
    project.ok("checkout", "-f", "main", "--", "data/labels.csv")
    project.write("data/img2.png", b"edited, not committed")
    project.ok("revert", bad)
    assert (project.root / "data/img2.png").read_bytes() == b"edited, not committed"
    assert (project.root / "data/img1.png").read_bytes() == IMAGE


def test_revert_bad_inputs(project: Project) -> None:
    """Unknown revision, or one already undone: one line, non-zero, nothing changed."""
    labelled(project)
    bad = bad_relabel(project)
    project.ok("revert", bad)
    before = state(project)
    one_error_line(project.fails(2, "revert", "no-such-rev"))
    assert "nothing to revert" in one_error_line(project.fails(2, "revert", bad))
    one_error_line(project.fails(2, "revert", "HEAD", "-m", " "))
    assert state(project) == before


def test_reset_soft_keeps_workspace(project: Project) -> None:
    """--soft moves the branch only: files stay, the undone commit shows as staged."""
    labelled(project)
    first = project.head()
    bad = bad_relabel(project)
    files = project.snapshot()
    result = project.ok("reset", "--soft", "HEAD~1")
    assert bad[:12] in result.out
    assert project.head() == first
    assert project.snapshot() == files
    staged = {c["path"] for c in project.status()["staged"]}
    assert staged == {"data/labels.csv", "data/img1.png"}


def test_reset_hard_restores_bytes_and_old_tip_stays_reachable(project: Project) -> None:
    """--hard makes the workspace REV's, byte for byte, listing the uncommitted changes it
    discarded; the branch reflog keeps the old tip, and resetting to it goes back."""
    labelled(project)
    first_files = project.snapshot()
    bad = bad_relabel(project)
    bad_files = project.snapshot()
    project.write("data/img2.png", b"uncommitted edit")
    result = project.ok("reset", "--hard", "HEAD~1")
    assert "discarded changes to data/img2.png" in result.out
    assert bad[:12] in result.out
    assert project.snapshot() == first_files
    assert project.status()["clean"] is True
    reflog = (project.root / ".dvault/logs/refs/heads/main").read_text().splitlines()
    assert reflog[-1].split()[:2] == [bad, project.head()]
    project.ok("reset", "--hard", bad[:12])
    assert project.head() == bad
    assert project.snapshot() == bad_files


def test_reset_hard_drops_staged_additions(project: Project) -> None:
    """A file added and staged since REV is gone after --hard (git's behaviour)."""
    labelled(project)
    project.write("data/new.txt", "staged\n")
    project.ok("add", "data/new.txt")
    data = project.ok("reset", "--hard", "HEAD", "--json").json()
    assert data["discarded"] == ["data/new.txt"]
    assert not (project.root / "data/new.txt").exists()
    assert project.status()["clean"] is True


def test_reset_detached_head_moves_head(project: Project) -> None:
    """On a detached HEAD, reset moves HEAD itself; branches stay."""
    labelled(project)
    first = project.head()
    bad_relabel(project)
    main = project.head()
    project.ok("checkout", main)
    project.ok("reset", "--hard", first)
    assert project.status()["branch"] is None
    assert project.head() == first
    branches = {b["name"]: b["id"] for b in project.ok("branch", "--json").json()}
    assert branches["main"] == main


def test_reset_bad_inputs(project: Project) -> None:
    """No mode, both modes, an unknown revision: one line, exit 2, nothing changed."""
    labelled(project)
    bad_relabel(project)
    project.write("data/img2.png", b"uncommitted")
    before = state(project)
    one_error_line(project.fails(2, "reset", "HEAD~1"))
    one_error_line(project.fails(2, "reset", "--soft", "--hard", "HEAD~1"))
    one_error_line(project.fails(2, "reset", "--hard", "nope"))
    assert state(project) == before
