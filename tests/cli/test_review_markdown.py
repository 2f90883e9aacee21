"""The Markdown review is valid CommonMark (with GFM tables), parsed by markdown-it-py:
every table comes out as a table, with or without a remote (issue 21: without one, a table
header was glued to a sentence), and quoted values stay text."""

from __future__ import annotations

from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from dvault import verdict

from .reviewed import reviewed_project


def _parse(text: str) -> list[Token]:
    """CommonMark with the GFM table extension; raw HTML allowed, so any that is not
    escaped shows up as an html token."""
    return MarkdownIt("commonmark", {"html": True}).enable("table").parse(text)


def _plain(inline: Token) -> str:
    """What a reader sees of an inline token: text and code spans, markup left out."""
    return "".join(c.content for c in inline.children or () if c.type in ("text", "code_inline"))


def _tables(tokens: list[Token]) -> list[tuple[list[str], list[list[str]]]]:
    """Each table as (header cells, body rows), cells as plain text."""
    out: list[tuple[list[str], list[list[str]]]] = []
    row: list[str] | None = None
    in_head = False
    for i, tok in enumerate(tokens):
        if tok.type == "table_open":
            out.append(([], []))
        elif tok.type in ("thead_open", "thead_close"):
            in_head = tok.type == "thead_open"
        elif tok.type == "tr_open":
            row = []
        elif tok.type in ("th_open", "td_open") and row is not None:
            row.append(_plain(tokens[i + 1]))
        elif tok.type == "tr_close" and row is not None:
            if in_head:
                out[-1][0].extend(row)
            else:
                out[-1][1].append(row)
    return out


def _headings(tokens: list[Token]) -> list[str]:
    return [_plain(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open"]


def _check_valid(text: str) -> list[tuple[list[str], list[list[str]]]]:
    tokens = _parse(text)
    assert not [t for t in tokens if t.type.startswith("html")], "raw HTML in the Markdown"
    for i, tok in enumerate(tokens):
        if tok.type == "inline" and tokens[i - 1].type == "paragraph_open":
            assert "|---" not in tok.content and not tok.content.startswith("|"), tok.content
    tables = _tables(tokens)
    for header, rows in tables:
        assert all(len(r) == len(header) for r in rows), (header, rows)
    return tables


def test_the_review_without_a_remote_is_valid_markdown(tmp_path: Path, env: dict[str, str]) -> None:
    """No remote: every table is a table, the remotes section a sentence, the check list a
    table with every check of verdict.CHECKS."""
    proj = reviewed_project(tmp_path / "proj", env)
    report = proj.run("review")
    assert report.code == 1, report.describe()  # no remote: the data is not recoverable
    tables = _check_valid(report.out)
    headers = [h for h, _ in tables]
    assert headers == [
        ["fact", "value"],
        ["status", "check", "reason", "fix"],
        ["root", "kind", "files", "bytes", "tree"],
        ["package", "version"],
        ["commit", "status", "signer", "key"],
        ["root", "datasheet", "missing required fields", "unknown keys"],
        ["root", "folder", "files", "bytes", "added", "deleted", "modified"],
    ]
    checks = tables[1][1]
    assert [r[1] for r in checks] == list(verdict.CHECKS.values())
    assert checks[0][0] == "FAIL"
    assert checks[0][3] == "dvault remote add --init origin URL && dvault push origin"
    assert _headings(_parse(report.out))[1:] == [
        "Checks",
        "Pinned data",
        "Lineage",
        "Environment",
        "Signatures",
        "Remotes (backups)",
        "Datasheets",
        "Statistics",
    ]
    assert "No remote is configured: the data exists only on this machine." in report.out


def test_the_review_with_a_remote_lists_it_in_a_table(tmp_path: Path, env: dict[str, str]) -> None:
    proj = reviewed_project(tmp_path / "proj", env, remote=tmp_path / "backup")
    tables = _check_valid(proj.ok("review").out)
    (remotes,) = [(h, rows) for h, rows in tables if h[:3] == ["name", "url", "status"]]
    assert remotes[1][0][:3] == ["origin", str(tmp_path / "backup"), "complete"]
    checks = tables[1][1]
    assert checks[0][:2] == ["PASS", "Data recoverable from a remote"] and checks[0][3] == ""


HOSTILE = "<script>alert(1)</script></table>|a|**b** `c` &amp; <b>x</b>"


def test_quoted_values_stay_text_in_markdown(tmp_path: Path, env: dict[str, str]) -> None:
    """A message, tag, datasheet key and remote path full of Markdown and HTML syntax: no
    raw HTML, no broken table, and each value reads back exactly."""
    tag = "t</table><script>x</script>|`c`"
    remote = tmp_path / "back|up `x` <i>y"
    proj = reviewed_project(
        tmp_path / "proj", env, message=HOSTILE, tag=tag, unknown_key=HOSTILE, remote=remote
    )
    text = proj.ok("review").out
    tables = _check_valid(text)
    (sheets,) = [rows for h, rows in tables if h[0:2] == ["root", "datasheet"]]
    assert sheets[0][3] == HOSTILE
    (remotes,) = [rows for h, rows in tables if h[:2] == ["name", "url"]]
    assert remotes[0][1] == str(remote)
    tokens = _parse(text)
    items = [_plain(t) for t in tokens if t.type == "inline"]
    assert any(HOSTILE in item and f"tag: {tag}" in item for item in items), items
