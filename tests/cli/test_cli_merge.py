"""`dvault merge`: two branches come back together, through the real CLI."""

from __future__ import annotations

import pytest

from .helpers import Project, one_error_line

ROWS = [f"{i:03}.png,c{i % 3:02}\n" for i in range(20)]
LABELS = "file,label\n" + "".join(ROWS)


@pytest.fixture
def team(project: Project) -> Project:
    """main with data/labels.csv and two images, and a branch ``relabel`` at the same commit."""
    project.write("data/labels.csv", LABELS)
    project.write("data/images/000.png", b"\x89PNG\0" + bytes(range(256)))
    project.write("data/images/001.png", b"\x89PNG\0" + bytes(range(255, -1, -1)))
    project.write("data/model.bin", b"\0weights v1")
    project.ok("add", "data")
    project.commit("first")
    project.ok("branch", "relabel")
    return project


def relabel(text: str, row: int, label: str) -> str:
    lines = text.splitlines(keepends=True)
    name = lines[row + 1].split(",")[0]
    lines[row + 1] = f"{name},{label}\n"
    return "".join(lines)


def state(p: Project) -> tuple[object, ...]:
    """What a refused merge must leave as it was: HEAD, branches, stage, workspace, and
    the packs (a line-merged file of a refused merge is not kept)."""
    branches = p.ok("branch", "--json").json()
    packs = sorted(f.name for f in (p.root / ".dvault/packs").rglob("*") if f.is_file())
    return p.head(), branches, p.status(), p.snapshot(), packs


def test_two_people_merge_cleanly(team: Project) -> None:
    """One relabels rows of labels.csv on a branch, the other adds images and relabels
    another row on main: the merge holds both, byte for byte, in a commit with two
    parents, and verifies clean."""
    p = team
    p.ok("checkout", "relabel")
    theirs = relabel(LABELS, 2, "c01")
    p.write("data/labels.csv", theirs)
    their_tip = p.commit("relabel row 2")
    p.ok("checkout", "main")
    ours = relabel(LABELS, 15, "c02") + "020.png,c00\n"
    p.write("data/labels.csv", ours)
    new_image = b"\x89PNG\0new image" * 50
    p.write("data/images/002.png", new_image)
    our_tip = p.commit("add an image")

    out = p.ok("merge", "relabel").out
    assert "merged lines of data/labels.csv" in out
    want = relabel(ours, 2, "c01")
    assert (p.root / "data/labels.csv").read_text() == want
    assert (p.root / "data/images/002.png").read_bytes() == new_image
    top = p.log()[0]
    assert top["parents"] == [our_tip, their_tip]
    assert top["message"] == "Merge relabel into main"
    assert p.status()["branch"] == "main"
    st = p.status()
    assert not st["staged"] and not st["modified"] and not st["deleted"]
    # the committed tree holds the merged bytes, not only the workspace
    assert p.ok("show", "HEAD:data/labels.csv").out == want
    p.ok("verify")
    # merging again: nothing to do
    assert "already up to date" in p.ok("merge", "relabel").out
    assert p.head() == top["id"]


def test_fast_forward_and_no_ff(team: Project) -> None:
    """Behind the other branch: a fast-forward (no new commit) unless --no-ff, which
    writes a merge commit with the same tree."""
    p = team
    first = p.head()
    p.ok("checkout", "relabel")
    p.write("data/images/009.png", b"\x89PNG\0nine")
    tip = p.commit("an image")
    p.ok("checkout", "main")
    out = p.ok("merge", "relabel").out
    assert "fast-forward" in out
    assert p.head() == tip
    assert (p.root / "data/images/009.png").read_bytes() == b"\x89PNG\0nine"
    assert p.ok("merge", "--json", "relabel").json()["result"] == "up-to-date"

    p.ok("checkout", "-f", first)  # detached at the first commit: HEAD behind relabel
    p.ok("branch", "older", first)
    p.ok("checkout", "older")
    report = p.ok("merge", "--no-ff", "-m", "keep the branch visible", "relabel", "--json").json()
    assert report["result"] == "merge"
    top = p.log()[0]
    assert top["parents"] == [first, tip]
    assert top["message"] == "keep the branch visible"
    assert (
        p.ok("show", "--json", "HEAD").json()["tree"] == p.ok("show", "--json", tip).json()["tree"]
    )


def test_merge_refuses_uncommitted_changes(team: Project) -> None:
    p = team
    p.ok("checkout", "relabel")
    p.write("data/images/005.png", b"five")
    p.commit("theirs")
    p.ok("checkout", "main")
    p.write("data/labels.csv", LABELS + "x.png,c00\n")  # modified, not committed
    before = state(p)
    line = one_error_line(p.fails(1, "merge", "--no-ff", "relabel"))
    assert "uncommitted" in line or "clean workspace" in line
    assert state(p) == before


def test_bad_revision_is_one_line(team: Project) -> None:
    line = one_error_line(team.fails(2, "merge", "no-such-branch"))
    assert "no-such-branch" in line
