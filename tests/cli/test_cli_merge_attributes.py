"""Per-path merge strategies from ``.dvaultattributes``, through the real CLI."""

from __future__ import annotations

from .helpers import Project, one_error_line


def _diverge(p: Project, side: str, ours: dict[str, bytes], theirs: dict[str, bytes]) -> None:
    """Commit ``theirs`` on a new branch ``side`` and ``ours`` on main, from HEAD."""
    p.ok("branch", side)
    p.ok("checkout", side)
    for rel, data in theirs.items():
        p.write(rel, data)
    p.commit("their changes")
    p.ok("checkout", "main")
    for rel, data in ours.items():
        p.write(rel, data)
    p.commit("our changes")


def test_strategies_decide_files_both_sides_changed(project: Project) -> None:
    """union keeps both sides' appended log lines, theirs takes their checkpoint, text
    line-merges a file whose name is not a label file's; binary keeps a csv whose rows
    merge cleanly as a conflict (the merge stops). A bad rule refuses the merge, nothing
    changed."""
    p = project
    p.write("data/train.log", "epoch 1\n")
    p.write("data/model.bin", b"\0weights v1")
    p.write("data/notes.md", "a\nb\nc\nd\ne\n")
    p.write("data/labels.csv", "a,1\nb,1\nc,1\nd,1\ne,1\n")
    p.ok("add", "data")
    p.commit("base")
    _diverge(
        p,
        "side",
        ours={
            "data/train.log": b"epoch 1\nours: epoch 2\n",
            "data/model.bin": b"\0weights ours",
            "data/notes.md": b"A\nb\nc\nd\ne\n",
        },
        theirs={
            "data/train.log": b"epoch 1\ntheirs: epoch 2\n",
            "data/model.bin": b"\0weights theirs",
            "data/notes.md": b"a\nb\nc\nd\nE\n",
        },
    )
    p.write(".dvaultattributes", "*.log union\n/data/model.bin theirs\n*.md text\n")
    out = p.ok("merge", "side").out
    assert "merged lines of data/train.log" in out
    assert (p.root / "data/train.log").read_bytes() == (
        b"epoch 1\nours: epoch 2\ntheirs: epoch 2\n"
    )
    assert (p.root / "data/model.bin").read_bytes() == b"\0weights theirs"
    assert (p.root / "data/notes.md").read_bytes() == b"A\nb\nc\nd\nE\n"
    assert p.ok("show", "HEAD:data/train.log").out.endswith("theirs: epoch 2\n")
    p.ok("verify")

    # binary: rows changed on both sides stay a conflict, even in a .csv
    _diverge(
        p,
        "rows",
        ours={"data/labels.csv": b"a,2\nb,1\nc,1\nd,1\ne,1\n"},
        theirs={"data/labels.csv": b"a,1\nb,1\nc,1\nd,1\ne,2\n"},
    )
    p.write(".dvaultattributes", "data/*.csv binary\n")
    head = p.head()
    refused = p.fails(1, "merge", "rows")
    assert "conflict (both-modified): data/labels.csv" in refused.err
    assert p.head() == head
    p.ok("merge", "--abort")  # the merge stopped on the conflict: give it up
    # a bad rule: one clear line naming the file and line, exit 2, nothing changed
    p.write(".dvaultattributes", "# strategies\n*.csv theirs-please\n")
    bad = p.fails(2, "merge", "rows")
    line = one_error_line(bad)
    assert ".dvaultattributes line 2: unknown strategy 'theirs-please'" in line
    assert p.head() == head
    assert (p.root / "data/labels.csv").read_bytes() == b"a,2\nb,1\nc,1\nd,1\ne,1\n"
    # without the rule the csv rows merge line by line as before
    (p.root / ".dvaultattributes").unlink()
    p.ok("merge", "rows")
    assert (p.root / "data/labels.csv").read_bytes() == b"a,2\nb,1\nc,1\nd,1\ne,2\n"


def test_a_root_cannot_be_the_attributes_file(project: Project) -> None:
    """A data checkout never writes .dvaultattributes where merge reads it: tracking it
    as a root is refused (so is a commit from a remote with such a root, as for
    .dvaultsigners: tests/security/test_checkout_paths.py)."""
    project.write(".dvaultattributes", "** theirs\n")
    refused = project.run("add", ".dvaultattributes")
    assert refused.code != 0
    assert "configures dvault or git" in one_error_line(refused)
