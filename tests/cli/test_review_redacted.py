"""The review of a revision altered after it was recorded (issue 22): a redaction says
which paths were erased (or their hashes, where this clone does not know the path), when,
by whom, why and who signed the record, and proves the rest still verifies; a forget
release of an input says so; data_recoverable fails naming the redaction (erased on
purpose is not recoverable). Users and reasons are remote text: escaped in every format."""

from __future__ import annotations

import html.parser
import re
import stat
from pathlib import Path

from dvault.hashing import from_hex
from dvault.repository import Repository
from dvault.store import erased
from dvault.trees import lookup
from dvault.verdict import FAIL, NO_FIX_ERASED, PASS

from .helpers import Project
from .test_cli_verdict import _build, _review
from .test_review_schema import _both, _validate

USER = "<script>alert(1)</script> | **Eve** <eve@x>"
REASON = "GDPR **request** 42 | <b>x</b> `c`"


def _redacted(tmp_path: Path, env: dict[str, str]) -> tuple[Project, str, str]:
    """``_build``'s project (pushed to ``origin``, signed by a trusted key) after a
    redaction of data/a.txt recorded on origin by a user whose name is hostile; returns
    the project, the pinned commit and its input."""
    proj = _build(tmp_path, env, rerun=False)
    pinned = proj.ok("log", "-n", "1", "--json").json()[0]["id"]
    proj.ok("rm", "data/a.txt")
    proj.ok("commit", "-m", "a.txt removed")
    hostile = {**proj.env, "DVAULT_AUTHOR": USER}
    proj.ok("redact", "data/a.txt", "--reason", REASON, "--remote", "origin", env=hostile)
    graph = proj.ok("lineage", pinned, "--json").json()
    (source,) = [e["target"] for e in graph["edges"] if e["kind"] == "input"]
    return proj, pinned, source


def test_the_review_names_the_redaction_and_verifies_the_rest(
    tmp_path: Path, env: dict[str, str]
) -> None:
    proj, pinned, source = _redacted(tmp_path, env)
    result, doc, checks = _review(proj)
    assert result.code == 1  # not reproducible in full
    altered = {a["commit"]: a for a in doc["altered"]}
    assert set(altered) == {pinned, source}
    assert altered[pinned]["role"] == "pinned" and altered[source]["role"] == "input"
    for item in altered.values():
        (red,) = item["redactions"]
        assert red["paths"] == ["data/a.txt"] and red["path_hashes"] == []
        assert red["user"].startswith("<script>alert(1)</script>") and red["reason"] == REASON
        # the record on origin, signed by the project's key (the one that signed the commit)
        assert red["signers"] == [doc["signature"]["fingerprint"]] and red["remotes"] == ["origin"]
        rest = item["rest"]
        assert rest["status"] == "verified" and rest["erased"] == 1 and rest["problems"] == []
        assert rest["objects"] > 3 and rest["rehashed"] is False
    # erased on purpose is not recoverable: the check fails naming it, with no fix to run
    recoverable = checks["data_recoverable"]
    assert recoverable["status"] == FAIL and recoverable["fix"] == NO_FIX_ERASED
    assert "data/a.txt erased on" in recoverable["reason"] and REASON in recoverable["reason"]
    assert "everything else verifies" in recoverable["reason"]
    assert "remote origin" in recoverable["reason"]  # otherwise it holds every other object
    # origin still holds the bytes (no prune yet): complete, nothing absent
    assert doc["remotes"][0]["status"] == "complete" and doc["remotes"][0]["redacted"] == 0
    # prune deletes the erased bytes from origin: absent there on purpose, not missing;
    # --read-data re-hashes the rest, here and on origin
    proj.ok("prune", "origin", "--admin", "--grace", "0")
    _, again, checks = _review(proj, "--read-data")
    assert again["remotes"][0]["status"] == "complete" and again["remotes"][0]["redacted"] == 1
    assert {a["rest"]["rehashed"] for a in again["altered"]} == {True}
    assert {a["rest"]["status"] for a in again["altered"]} == {"verified"}
    assert checks["data_recoverable"]["status"] == FAIL and not again["reproducible"]
    _validate(_both(proj))


def test_the_rest_that_does_not_verify_is_said(tmp_path: Path, env: dict[str, str]) -> None:
    """A file of the pinned commit damaged besides the erased one: the rest does NOT
    verify (with --read-data), and the JSON says which object."""
    proj, pinned, _ = _redacted(tmp_path, env)
    repo = Repository.open(proj.root)
    entry = lookup(repo.store, repo.read_commit(bytes.fromhex(pinned)).tree, b"models/net.bin")
    assert entry is not None
    name, where = repo.store.locate(entry.id)  # flip one stored byte, as bit rot would
    pack = repo.store.packs_dir / f"{name}.pack"
    pack.chmod(pack.stat().st_mode | stat.S_IWUSR)
    with open(pack, "r+b") as f:
        f.seek(where.offset + where.stored_len // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x40]))
    _, doc, checks = _review(proj, "--read-data")
    mine = next(a for a in doc["altered"] if a["commit"] == pinned)
    assert mine["rest"]["status"] == "problems" and mine["rest"]["problems"]
    assert "does NOT verify" in checks["data_recoverable"]["reason"]


def test_a_path_this_clone_does_not_know_shows_as_its_hash(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A redaction naming the pinned commit and a path its tree does not hold (the path
    hash is all a record carries): the hash is shown, never a guess; recorded here only."""
    proj = _build(tmp_path, env, rerun=False)
    pinned = proj.ok("log", "-n", "1", "--json").json()[0]["id"]
    unknown = erased.path_hash("people/alice.csv")
    erased.add(
        proj.root / ".dvault",
        erased.Redaction(
            1_700_000_000 * 10**9,
            "Ann",
            "licence withdrawn",
            (unknown,),
            frozenset({from_hex("ab" * 32)}),
            (pinned,),
        ),
    )
    _, doc, checks = _review(proj)
    (item,) = doc["altered"]
    (red,) = item["redactions"]
    assert red["paths"] == [] and red["path_hashes"] == [unknown]
    assert red["signers"] == [] and red["time"] == "2023-11-14 22:13:20 UTC"
    assert item["rest"]["status"] == "verified" and item["rest"]["erased"] == 0
    reason = checks["data_recoverable"]["reason"]
    assert f"a path with hash {unknown[:16]} (not in this clone)" in reason
    assert "recorded in this clone only" in reason
    text = proj.run("review", "--format", "md").out
    assert f"a path with hash {unknown[:16]}" in text and "alice" not in text


def _md_section(text: str, title: str) -> str:
    return text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _cells(row: str) -> list[str]:
    """A GFM table row's cells (a backslash-escaped pipe does not split)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


class _Elements(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_hostile_user_and_reason_are_escaped(tmp_path: Path, env: dict[str, str]) -> None:
    """Markdown: the redaction table keeps its columns, nothing is bold or a tag; HTML: no
    element injected (one script: the JSON), the text shown as written; lineage SVG marks
    the altered versions."""
    proj, pinned, _ = _redacted(tmp_path, env)
    text = proj.run("review", "--format", "md").out
    section = _md_section(text, "Redactions and releases")
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    header = _cells(rows[0])
    assert header == ["revision", "role", "erased", "when", "by", "reason", "record"]
    for row in rows[1:]:
        assert len(_cells(row)) == len(header), row
    assert "<script>" not in text and "**Eve**" not in text and "**request**" not in text
    assert r"\<script\>" in text and r"\*\*request\*\*" in text and r"\|" in section
    assert "everything else verifies" in section
    page = proj.run("review", "--format", "html").out
    seen = _Elements()
    seen.feed(page)
    assert seen.tags.count("script") == 1 and "b" not in seen.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<section id="altered">' in page
    for svg in (page, proj.run("lineage", pinned, "--format", "html").out):
        marked = re.findall(r'<g class="node altered" data-id="([0-9a-f]{64})"', svg)
        assert pinned in marked and "REDACTED" in svg


def test_a_forget_release_of_the_input_shows(tmp_path: Path, env: dict[str, str]) -> None:
    """``forget --keep-last 1`` on origin releases the input (data v1, the run commit's
    parent): the review says so, from the signed forget entry; the pinned data is still
    kept, so data_recoverable still passes."""
    proj = _build(tmp_path, env, rerun=False)
    pinned = proj.ok("log", "-n", "1", "--json").json()[0]["id"]
    proj.ok("forget", "origin", "--keep-last", "1")
    _, doc, checks = _review(proj)
    (released,) = doc["released"]
    assert released["role"] == "input" and released["remote"] == "origin"
    assert released["commit"] != pinned and "keep-last 1" in released["policy"]
    assert released["text"].startswith("contents released by forget on ")
    assert released["text"].endswith(" on remote origin")
    assert doc["altered"] == [] and checks["data_recoverable"]["status"] == PASS
    text = proj.run("review", "--format", "md").out
    assert "contents released by forget on" in _md_section(text, "Redactions and releases")
    _validate(_both(proj))


def test_a_pinned_commit_released_and_pruned_says_so_and_how_to_keep_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The pinned commit released by ``forget --keep-last 1`` (a newer model was pushed)
    and its model pruned from origin: origin is incomplete *because* of the release (the
    detail says so), and the fix — tag it, push the tag — brings origin back to complete."""
    proj = _build(tmp_path, env, rerun=False)
    pinned = proj.ok("log", "-n", "1", "--json").json()[0]["id"]
    proj.write("models/net.bin", "a newer model\n")
    proj.ok("add", "models")
    proj.ok("commit", "-m", "model v2")
    proj.ok("push")
    proj.ok("forget", "origin", "--keep-last", "1")
    proj.ok("prune", "origin", "--admin", "--grace", "0")
    _, doc, checks = _review(proj)
    assert {(x["commit"], x["role"]) for x in doc["released"]} >= {(pinned, "pinned")}
    (origin,) = doc["remotes"]
    assert origin["status"] == "incomplete"
    assert origin["detail"].startswith("its contents were released by forget on ")
    recoverable = checks["data_recoverable"]
    assert recoverable["status"] == FAIL and "released by forget" in recoverable["reason"]
    tag = f"keep-{pinned[:12]}"
    assert recoverable["fix"] == f"dvault tag {tag} {pinned} && dvault push origin {tag}"
    for step in recoverable["fix"].split(" && "):
        proj.ok(*step.split()[1:])
    _, doc, checks = _review(proj)
    assert checks["data_recoverable"]["status"] == PASS, checks["data_recoverable"]
    assert doc["remotes"][0]["status"] == "complete"
    assert all(x["commit"] != pinned for x in doc["released"])  # a tag keeps it
