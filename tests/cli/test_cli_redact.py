"""``dvault redact`` end to end: one line per bad input, reasons escaped, verify says redacted."""

from __future__ import annotations

from pathlib import Path

from .helpers import Project


def _history(project: Project) -> None:
    project.write("data/people.csv", "name\nAda\n")
    project.write("data/keep.txt", "keep\n")
    project.ok("add", "data")
    project.ok("commit", "-m", "v1")
    project.ok("rm", "data/people.csv")
    project.ok("commit", "-m", "v2")


def test_redact_then_verify_and_show_the_escaped_reason(project: Project) -> None:
    _history(project)
    reason = "GDPR\x1b[31m request\nforged line"
    out = project.ok("redact", "data/people.csv", "--reason", reason).out
    assert "erased 1 object(s) of 1 file(s) in 1 commit(s)" in out
    verified = project.ok("verify").out
    assert "redacted (1 objects" in verified
    failed = project.run("checkout", "HEAD~1", "--", "data/people.csv")
    assert failed.code != 0
    shown = failed.err
    assert "\x1b" not in shown and "\\x1b[31m" in shown and "\\n" in shown
    assert shown.count("\n") == 1 and "erased on " in shown
    # a whole checkout writes every other file, names the erased one, exits non-zero
    whole = project.run("checkout", "HEAD~1")
    assert whole.code == 1 and whole.err.startswith("dvault: data/people.csv: erased on ")
    assert (project.root / "data" / "keep.txt").read_text() == "keep\n"
    assert not (project.root / "data" / "people.csv").exists()


def test_bad_input_one_line_nothing_changed(project: Project) -> None:
    _history(project)
    for args in (
        ["redact", "data/people.csv"],
        ["redact", "data/nope.csv", "--reason", "x"],
        ["redact", "data/keep.txt", "--reason", "x"],
    ):
        result = project.run(*args)
        assert result.code != 0 and result.err.count("\n") == 1, result.err
    assert not (project.root / ".dvault" / "erased.json").exists()


def test_push_to_a_new_remote_after_a_redaction(project: Project, tmp_path: Path) -> None:
    """The erased object is not pushed (it is not here); the rest is, and verify of that
    remote from this clone says redacted, not missing."""
    _history(project)
    project.ok("redact", "data/people.csv", "--reason", "x")
    project.ok("remote", "add", "--init", "backup", str(tmp_path / "backup"))
    project.ok("push", "backup", "main")
    assert "redacted (1 objects" in project.ok("verify", "--remote", "backup").out
