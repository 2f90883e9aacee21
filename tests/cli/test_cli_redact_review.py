"""A review of a revision altered by ``dvault redact`` says so; its data is not recoverable
in full (data_recoverable fails naming the redaction), while the erased objects are never
counted as missing (tests/cli/test_review_redacted.py has the rest)."""

from __future__ import annotations

from pathlib import Path

from .test_cli_verdict import _build, _review


def test_review_says_the_pinned_revision_was_altered(tmp_path: Path, env: dict[str, str]) -> None:
    proj = _build(tmp_path, env, rerun=False)
    pinned = proj.ok("log", "-n", "1", "--json").json()[0]["id"]
    proj.ok("rm", "data/a.txt")
    proj.ok("commit", "-m", "a.txt removed")
    proj.ok("redact", "data/a.txt", "--reason", "GDPR request 42")
    _, doc, checks = _review(proj)
    altered = {n["id"]: n["redactions"] for n in doc["lineage"]["nodes"] if n["redactions"]}
    assert pinned in altered and altered[pinned][0]["reason"] == "GDPR request 42"
    assert checks["data_recoverable"]["status"] == "fail"
    assert "GDPR request 42" in checks["data_recoverable"]["reason"]
    result = proj.run("review", "--format", "md")
    assert result.code == 1  # not recoverable in full: the exit says so too
    text = result.out
    assert "altered by a redaction" in text and "GDPR request 42" in text
