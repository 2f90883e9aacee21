"""`checkout [REV] -- PATH...` as git does it: an overlay that never deletes (unless
--no-overlay), a missing file restored without fuss, and `-- PATH` from the stage."""

from __future__ import annotations

from .helpers import Project, one_error_line


def _hand_merge(p: Project) -> None:
    """main and exp both add a file under data/; HEAD is main."""
    p.write("data/shared.csv", "id,label\n1,cat\n")
    p.ok("add", "data")
    p.ok("commit", "-m", "base")
    p.ok("branch", "exp")
    p.write("data/mine.csv", "main's new file\n")
    p.ok("commit", "-a", "-m", "main adds mine.csv")
    p.ok("checkout", "exp")
    p.write("data/theirs.csv", "exp's new file\n")
    p.write("data/shared.csv", "id,label\n1,cat\n2,dog\n")
    p.ok("commit", "-a", "-m", "exp adds theirs.csv")
    p.ok("checkout", "main")


def test_hand_merge_keeps_both_sides_new_files(project: Project) -> None:
    """`checkout exp -- data` on main brings exp's files and keeps main's new one
    (the issue: it used to delete data/mine.csv, which exp lacks)."""
    _hand_merge(project)
    project.ok("checkout", "exp", "--", "data")
    assert (project.root / "data/mine.csv").read_text() == "main's new file\n"
    assert (project.root / "data/theirs.csv").read_text() == "exp's new file\n"
    assert (project.root / "data/shared.csv").read_text() == "id,label\n1,cat\n2,dog\n"
    status = project.status()
    assert status["branch"] == "main"
    assert sorted((c["path"], c["status"]) for c in status["staged"]) == [
        ("data/shared.csv", "modified"),
        ("data/theirs.csv", "added"),
    ]
    project.ok("commit", "-m", "hand merge")
    listing = {e["name"] for e in project.ok("show", "--json", "HEAD:data").json()}
    assert listing == {"mine.csv", "shared.csv", "theirs.csv"}


def test_no_overlay_mirrors_the_revision(project: Project) -> None:
    """`--no-overlay exp -- data` removes what exp lacks, so data/ is exp's; HEAD stays."""
    _hand_merge(project)
    result = project.ok("checkout", "--no-overlay", "exp", "--", "data")
    assert "1 removed" in result.out, result.describe()
    assert not (project.root / "data/mine.csv").exists()
    assert (project.root / "data/theirs.csv").exists()
    status = project.status()
    assert status["branch"] == "main"
    assert ("data/mine.csv", "deleted") in {(c["path"], c["status"]) for c in status["staged"]}


def test_no_overlay_still_refuses_to_delete_an_edit(project: Project) -> None:
    """A file --no-overlay would remove but that holds an uncommitted edit is kept, named."""
    _hand_merge(project)
    project.write("data/mine.csv", "edited, not committed\n")
    refused = project.fails(1, "checkout", "--no-overlay", "exp", "--", "data")
    assert "data/mine.csv" in refused.err, refused.describe()
    assert (project.root / "data/mine.csv").read_text() == "edited, not committed\n"
    assert not (project.root / "data/theirs.csv").exists()


def test_overlay_of_a_path_the_revision_lacks_is_an_error(project: Project) -> None:
    """`checkout exp -- data/mine.csv` (exp has no such file): one line, nothing changed."""
    _hand_merge(project)
    refused = project.fails(2, "checkout", "exp", "--", "data/mine.csv")
    assert "not in that revision" in one_error_line(refused)
    assert (project.root / "data/mine.csv").exists()
    assert project.status()["clean"]


def test_restoring_a_deleted_file_with_head(tracked: Project) -> None:
    """`rm f; dvault add data; dvault checkout HEAD -- f` brings f back: a missing file is
    not an uncommitted change to protect (it used to be refused)."""
    (tracked.root / "data/a.txt").unlink()
    tracked.ok("add", "data")  # the deletion is staged now
    tracked.ok("checkout", "HEAD", "--", "data/a.txt")
    assert (tracked.root / "data/a.txt").read_text() == "alpha\n"
    assert tracked.status()["clean"]


def test_checkout_dash_dash_restores_from_the_stage(tracked: Project) -> None:
    """`checkout -- f` puts back what `dvault add` staged, discarding the later edit (a
    copy kept in .dvault/lost+found); the staged change, other edits and HEAD stay."""
    head = tracked.head()
    tracked.write("data/a.txt", "staged version\n")
    tracked.ok("add", "data/a.txt")
    tracked.write("data/a.txt", "a later edit to throw away\n")
    tracked.write("data/b.txt", "an edit elsewhere\n")
    done = tracked.ok("checkout", "--", "data/a.txt")
    assert (tracked.root / "data/a.txt").read_text() == "staged version\n"
    assert (tracked.root / "data/b.txt").read_text() == "an edit elsewhere\n"
    # the discarded edit is not lost: a copy waits in .dvault/lost+found, and status says so
    kept = list((tracked.root / ".dvault" / "lost+found").glob("*/data/a.txt"))
    assert [k.read_text() for k in kept] == ["a later edit to throw away\n"], done.describe()
    assert "kept 1 overwritten uncommitted file(s) in .dvault/lost+found/" in done.out
    status = tracked.status()
    assert [e["files"] for e in status["lost_found"]] == [1]
    assert [(c["path"], c["status"]) for c in status["staged"]] == [("data/a.txt", "modified")]
    assert status["modified"] == ["data/b.txt"]
    assert tracked.head() == head


def test_checkout_dash_dash_restores_a_folder_from_head(tracked: Project) -> None:
    """Nothing staged: `checkout -- data/sub` gives HEAD's content back (edit discarded,
    deleted file restored); a new file there is not touched."""
    tracked.write("data/sub/c.txt", "edited\n")
    tracked.write("data/sub/new.txt", "new\n")
    tracked.ok("checkout", "--", "data/sub")
    assert (tracked.root / "data/sub/c.txt").read_text() == "charlie\n"
    assert (tracked.root / "data/sub/new.txt").read_text() == "new\n"
    (tracked.root / "data/sub/c.txt").unlink()
    tracked.ok("checkout", "--", "data/sub/c.txt")
    assert (tracked.root / "data/sub/c.txt").read_text() == "charlie\n"
    assert tracked.status()["untracked"] == ["data/sub/new.txt"]


def test_bad_path_forms_are_one_line_and_change_nothing(tracked: Project) -> None:
    """An unknown path, or options `-- PATH` does not take: one line, exit 2, untouched."""
    tracked.write("data/a.txt", "edited\n")
    for args in (
        ["checkout", "--", "data/nope.txt"],
        ["checkout", "-f", "--", "data/a.txt"],
        ["checkout", "--no-overlay", "--", "data/a.txt"],
        ["checkout", "--no-overlay", "HEAD"],
        ["checkout", "--pin", "HEAD"],
    ):
        one_error_line(tracked.fails(2, *args))
    assert (tracked.root / "data/a.txt").read_text() == "edited\n"
    assert tracked.status()["modified"] == ["data/a.txt"]


def test_checkout_pin_outside_git_is_one_line(tracked: Project) -> None:
    """Not in git, no dvault.lock: `checkout --pin` says nothing is pinned."""
    line = one_error_line(tracked.fails(2, "checkout", "--pin"))
    assert "nothing is pinned" in line
    assert tracked.status()["pin"] is None
