"""A merge that stops on conflicts: the conflict state in the workspace, ``status``,
``checkout --ours|--theirs``, ``merge --continue`` and ``merge --abort``, through the CLI."""

from __future__ import annotations

import pytest

from .helpers import Project, one_error_line
from .test_cli_merge import LABELS, relabel, state


@pytest.fixture
def team(project: Project) -> Project:
    project.write("data/labels.csv", LABELS)
    project.write("data/images/000.png", b"\x89PNG\0" + bytes(range(256)))
    project.write("data/images/001.png", b"\x89PNG\0" + bytes(range(255, -1, -1)))
    project.write("data/model.bin", b"\0weights v1")
    project.ok("add", "data")
    project.commit("first")
    project.ok("branch", "relabel")
    return project


def diverge(p: Project, theirs: dict[str, bytes | str], ours: dict[str, bytes | str]) -> str:
    """Commit ``theirs`` on branch relabel and ``ours`` on main; returns their tip."""
    p.ok("checkout", "relabel")
    for rel, content in theirs.items():
        p.write(rel, content)
    tip = p.commit("theirs")
    p.ok("checkout", "main")
    for rel, content in ours.items():
        p.write(rel, content)
    p.commit("ours")
    return tip


def test_same_row_conflict_resolved_with_theirs(team: Project) -> None:
    """Both relabel row 4: the file shows git-style blocks, status lists it, --continue
    refuses until `checkout --theirs` takes their bytes; the commit has two parents."""
    p = team
    their_labels = relabel(LABELS, 4, "c08")
    our_labels = relabel(LABELS, 4, "c09") + "020.png,c00\n"
    their_tip = diverge(p, {"data/labels.csv": their_labels}, {"data/labels.csv": our_labels})
    our_tip = p.head()
    result = p.fails(1, "merge", "relabel")
    assert "conflict (both-modified): data/labels.csv" in result.err
    assert "dvault merge --continue" in result.err and "Traceback" not in result.err
    text = (p.root / "data/labels.csv").read_text()
    assert "<<<<<<< ours\n004.png,c09\n=======\n004.png,c08\n>>>>>>> theirs\n" in text
    assert text.endswith("020.png,c00\n")  # our other change is kept outside the block
    assert p.head() == our_tip
    st = p.status()
    assert st["merging"] == "relabel" and st["unmerged"] == ["data/labels.csv"]
    assert "unmerged:" in p.ok("status").out
    # commands that would lose the merge refuse
    p.fails(2, "commit", "-m", "too early")
    p.fails(2, "checkout", "relabel")
    p.fails(2, "merge", "relabel")
    refused = p.fails(1, "merge", "--continue")
    assert "still unmerged: data/labels.csv" in refused.err
    p.ok("checkout", "--theirs", "--", "data/labels.csv")
    assert (p.root / "data/labels.csv").read_text() == their_labels
    assert p.status()["unmerged"] == []
    p.ok("merge", "--continue")
    top = p.log()[0]
    assert top["parents"] == [our_tip, their_tip]
    assert top["message"] == "Merge relabel into main"
    assert p.ok("show", "HEAD:data/labels.csv").out == their_labels
    st = p.status()
    assert st["clean"] and st["merging"] is None
    p.ok("verify")


def test_binary_conflict_resolved_with_ours(team: Project) -> None:
    """A checkpoint both sides retrained: ours stays at the path, theirs beside it as
    model.bin~theirs; `--ours` removes the copy; the label file merged cleanly."""
    p = team
    diverge(
        p,
        {"data/model.bin": b"\0weights theirs", "data/labels.csv": relabel(LABELS, 1, "c07")},
        {"data/model.bin": b"\0weights ours", "data/labels.csv": relabel(LABELS, 12, "c07")},
    )
    result = p.fails(1, "merge", "relabel")
    assert "conflict (both-modified): data/model.bin" in result.err
    assert (p.root / "data/model.bin").read_bytes() == b"\0weights ours"
    assert (p.root / "data/model.bin~theirs").read_bytes() == b"\0weights theirs"
    merged = relabel(relabel(LABELS, 1, "c07"), 12, "c07")
    assert (p.root / "data/labels.csv").read_text() == merged
    assert p.status()["unmerged"] == ["data/model.bin"]
    p.ok("checkout", "--ours", "--", "data/model.bin")
    assert not (p.root / "data/model.bin~theirs").exists()
    p.ok("merge", "--continue")
    assert p.ok("show", "HEAD:data/model.bin").raw == b"\0weights ours"
    assert p.ok("show", "HEAD:data/labels.csv").out == merged
    assert len(p.log()[0]["parents"]) == 2
    assert p.status()["clean"]


def test_abort_restores_workspace_byte_for_byte(team: Project) -> None:
    """--abort after a stopped merge (and a half-done resolution): HEAD's stage and
    workspace exactly, copies gone, untracked files kept."""
    p = team
    diverge(
        p,
        {"data/model.bin": b"\0weights theirs", "data/labels.csv": relabel(LABELS, 4, "c08")},
        {"data/model.bin": b"\0weights ours", "data/labels.csv": relabel(LABELS, 4, "c09")},
    )
    p.write("data/notes.md", "untracked, mine")
    before = state(p)
    p.fails(1, "merge", "relabel")
    p.ok("checkout", "--theirs", "--", "data/model.bin")
    for lose_it in (("reset", "--hard", "HEAD"), ("revert", "HEAD")):  # would lose the merge
        assert "a merge is in progress" in one_error_line(p.fails(2, *lose_it))
    p.ok("merge", "--abort")
    after = state(p)
    assert after[:4] == before[:4]  # HEAD, branches, status, workspace bytes
    assert (p.root / "data/notes.md").read_text() == "untracked, mine"
    assert p.status()["merging"] is None
    p.fails(2, "merge", "--abort")  # nothing left to abort: one line
    p.ok("verify")


def test_continue_with_markers_added_refuses(team: Project) -> None:
    """`dvault add` of a file still holding conflict blocks does not resolve it."""
    p = team
    diverge(
        p,
        {"data/labels.csv": relabel(LABELS, 4, "c08")},
        {"data/labels.csv": relabel(LABELS, 4, "c09")},
    )
    p.fails(1, "merge", "relabel")
    head = p.head()
    p.ok("add", "data/labels.csv")
    refused = p.fails(1, "merge", "--continue")
    assert "conflict markers" in refused.err and "Traceback" not in refused.err
    assert p.head() == head
    # a hand-made resolution, added, is accepted
    p.write("data/labels.csv", relabel(LABELS, 4, "c10"))
    p.ok("add", "data/labels.csv")
    p.ok("merge", "--continue")
    assert p.ok("show", "HEAD:data/labels.csv").out == relabel(LABELS, 4, "c10")


def test_modify_delete_shows_theirs_beside(team: Project) -> None:
    """Ours deleted an image theirs re-encoded: the path stays absent, theirs is at
    path~theirs; `--theirs` brings it back and stages it."""
    p = team
    p.ok("checkout", "relabel")
    p.write("data/images/000.png", b"\x89PNG\0re-encoded")
    their_tip = p.commit("re-encode")
    p.ok("checkout", "main")
    (p.root / "data/images/000.png").unlink()
    p.commit("drop a bad image")
    result = p.fails(1, "merge", "relabel")
    assert "conflict (modify/delete): data/images/000.png" in result.err
    assert not (p.root / "data/images/000.png").exists()
    assert (p.root / "data/images/000.png~theirs").read_bytes() == b"\x89PNG\0re-encoded"
    p.ok("checkout", "--theirs", "--", "data/images/000.png")
    assert not (p.root / "data/images/000.png~theirs").exists()
    p.ok("merge", "--continue")
    assert p.log()[0]["parents"][1] == their_tip
    assert p.ok("show", "HEAD:data/images/000.png").raw == b"\x89PNG\0re-encoded"


def test_their_delete_taken_with_theirs_deletes_the_path(team: Project) -> None:
    """Theirs deleted a file ours edited: `checkout --theirs` takes the deletion (the
    file goes from the workspace and the stage), as the merge of theirs means."""
    p = team
    p.ok("checkout", "relabel")
    (p.root / "data/model.bin").unlink()
    p.commit("drop the model")
    p.ok("checkout", "main")
    p.write("data/model.bin", b"\0weights v2")
    p.commit("retrain")
    result = p.fails(1, "merge", "relabel")
    assert "conflict (modify/delete): data/model.bin" in result.err, result.describe()
    p.ok("checkout", "--theirs", "--", "data/model.bin")
    assert not (p.root / "data/model.bin").exists()
    p.ok("merge", "--continue")
    assert p.fails(2, "show", "HEAD:data/model.bin").code == 2


def test_bad_inputs_are_one_line(team: Project) -> None:
    p = team
    for args in (
        ["merge", "--continue"],
        ["checkout", "--ours", "--", "data/model.bin"],
        ["checkout", "--ours", "main", "--", "data/model.bin"],
        ["merge"],
    ):
        r = p.fails(2, *args)
        assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.describe()


def test_file_directory_conflict_copies_their_directory(team: Project) -> None:
    """Ours made data/extra a file, theirs a folder: the file stays, their folder is
    at data/extra~theirs/; `--theirs` takes the folder and removes the copy."""
    p = team
    diverge(
        p,
        {"data/extra/a.bin": b"\0a", "data/extra/sub/b.bin": b"\0b"},
        {"data/extra": b"\0a file"},
    )
    result = p.fails(1, "merge", "relabel")
    assert "conflict (file/directory): data/extra" in result.err
    assert (p.root / "data/extra").read_bytes() == b"\0a file"
    assert (p.root / "data/extra~theirs/sub/b.bin").read_bytes() == b"\0b"
    p.ok("checkout", "--theirs", "--", "data/extra")
    assert not (p.root / "data/extra~theirs").exists()
    assert (p.root / "data/extra/sub/b.bin").read_bytes() == b"\0b"
    p.ok("merge", "--continue")
    assert p.ok("show", "HEAD:data/extra/a.bin").raw == b"\0a"


def test_hand_resolution_with_a_staged_copy_refuses(team: Project) -> None:
    """Resolving by hand: `dvault add data` also stages model.bin~theirs; --continue
    refuses until the copy is gone from the workspace and the stage."""
    p = team
    diverge(p, {"data/model.bin": b"\0weights theirs"}, {"data/model.bin": b"\0weights ours"})
    p.fails(1, "merge", "relabel")
    (p.root / "data/model.bin").write_bytes(b"\0weights averaged")
    p.ok("add", "data")
    assert p.status()["unmerged"] == []
    refused = p.fails(1, "merge", "--continue")
    assert "model.bin~theirs" in refused.err
    p.ok("rm", "data/model.bin~theirs")
    p.ok("merge", "--continue")
    assert p.ok("show", "HEAD:data/model.bin").raw == b"\0weights averaged"
    assert p.fails(2, "show", "HEAD:data/model.bin~theirs").code == 2


def test_status_json_and_damaged_state(team: Project) -> None:
    """status --json names the merge and its unmerged paths; a damaged MERGE_STATE is
    one line, not a traceback."""
    p = team
    diverge(p, {"data/model.bin": b"\0weights theirs"}, {"data/model.bin": b"\0weights ours"})
    p.fails(1, "merge", "relabel")
    st = p.ok("status", "--json").json()
    assert st["merging"] == "relabel" and st["unmerged"] == ["data/model.bin"]
    assert not st["clean"]
    (p.root / ".dvault/MERGE_STATE").write_text('{"version": 1, "head": "zz"}')
    r = p.fails(3, "merge", "--continue")
    assert "MERGE_STATE" in r.err and "Traceback" not in r.err


def test_ours_on_a_marked_label_file_puts_our_bytes_back(team: Project) -> None:
    """`--ours` on a file holding conflict blocks writes our version over them."""
    p = team
    ours = relabel(LABELS, 4, "c09")
    diverge(p, {"data/labels.csv": relabel(LABELS, 4, "c08")}, {"data/labels.csv": ours})
    p.fails(1, "merge", "relabel")
    assert "<<<<<<< ours" in (p.root / "data/labels.csv").read_text()
    out = p.ok("status").out
    assert "Merging relabel" in out and "unmerged: data/labels.csv" in out
    p.ok("checkout", "--ours", "--", "data/labels.csv")
    assert (p.root / "data/labels.csv").read_text() == ours
    p.ok("merge", "--continue")
    assert p.ok("show", "HEAD:data/labels.csv").out == ours
    assert p.status()["clean"]
