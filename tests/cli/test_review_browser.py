"""The HTML review and lineage page as an auditor sees them: rendered by a real headless
Chromium (tests/cli/chromium.py), asserted on the DOM the browser built and on a
screenshot (issue 21: tables are tables, no raw Markdown, every check present, tag names on
the lineage nodes, parent and derived-from edges apart, nothing fetched)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dvault import __version__, verdict

from .chromium import (
    Element,
    Rendered,
    assert_self_contained,
    parse,
    pdf_pages,
    png_size,
    render,
)
from .helpers import Project
from .reviewed import reviewed_project
from .test_review_redacted import REASON, USER, _redacted

SECTIONS = (
    "summary",
    "checks",
    "pinned",
    "lineage",
    "environment",
    "signatures",
    "remotes",
    "datasheets",
    "statistics",
)


def _page(proj: Project, tmp_path: Path, *args: str) -> tuple[Element, Rendered]:
    """Run ``dvault ARGS`` (an HTML page on stdout), save it, render it in the browser."""
    result = proj.run(*args)
    assert result.code in (0, 1) and "Traceback" not in result.err, result.describe()
    page = tmp_path / f"{args[0]}.html"
    page.write_bytes(result.raw)
    shown = render(page, tmp_path)
    return parse(shown.dom), shown


def _table_rows(table: Element) -> tuple[list[str], list[list[str]]]:
    """Header texts and body rows (cell texts) of a rendered table, checking every row has
    as many cells as the header."""
    header = [th.text() for th in table.all("th")]
    rows = [[td.text() for td in tr.all("td")] for tr in table.all("tr")[1:]]
    assert header and all(len(row) == len(header) for row in rows), (header, rows)
    return header, rows


def _section(dom: Element, anchor: str) -> Element:
    (found,) = [s for s in dom.all("section") if s.attrs.get("id") == anchor]
    return found


def _visible_text(dom: Element) -> str:
    (body,) = dom.all("body")
    return body.text()


def _assert_edges_apart(svg: Element) -> None:
    """Parent and input edges: both drawn, styled apart, never on the same path."""
    edges = [p for p in svg.all("path") if "edge" in p.classes()]
    kinds = {p.attrs["data-kind"] for p in edges}
    assert kinds == {"parent", "input"}, kinds
    style = {
        p.attrs["data-kind"]: (p.attrs.get("stroke"), p.attrs.get("stroke-dasharray"))
        for p in edges
    }
    assert style["parent"] != style["input"] and style["parent"][1] and not style["input"][1]
    paths = [p.attrs["d"] for p in edges]
    assert len(set(paths)) == len(paths), paths  # none drawn over another
    legend = [g for g in svg.all("g") if "legend" in g.classes()]
    assert legend and "parent" in legend[0].text() and "derived from" in legend[0].text()


def test_the_review_renders_as_a_report_in_a_browser(tmp_path: Path, env: dict[str, str]) -> None:
    """A real browser shows sections and tables (not Markdown in a <pre>), every check with
    its status and fix, the lineage drawn with tag names, and fetches nothing."""
    proj = reviewed_project(tmp_path / "proj", env, remote=tmp_path / "backup")
    data = proj.run("review", "--json").json()
    dom, shown = _page(proj, tmp_path, "review", "--format", "html")
    assert_self_contained(dom)
    assert [s.attrs.get("id") for s in dom.all("section")] == list(SECTIONS)
    text = _visible_text(dom)
    for marker in ("|---", "**", "`", "## "):
        assert marker not in text, marker
    # the header: what, by which tool, when
    facts = {k: v for k, v in _table_rows(_section(dom, "summary").all("table")[0])[1]}
    assert facts["git commit"] == data["git_commit"]
    assert facts["dvault commit"] == data["data"]["commit"]
    assert facts["produced by"] == f"dvault {__version__}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", facts["produced on"])
    (banner,) = [d for d in dom.all("div") if "verdict" in d.classes()]
    assert f"Verdict: {'reproducible' if data['verdict'] == 'reproducible' else 'NOT'}" in (
        banner.text()
    )
    # every check: its title, a status badge, the reason, the fix in <code> unless it passed
    (checks,) = _section(dom, "checks").all("table")
    header, rows = _table_rows(checks)
    assert header == ["status", "check", "reason", "fix"]
    assert [row[1] for row in rows] == list(verdict.CHECKS.values())
    for row, check in zip(checks.all("tr")[1:], data["checks"], strict=True):
        badge, _, reason, fix = row.all("td")
        assert badge.all("span")[0].text() == verdict_word(check["status"])
        assert reason.text() == check["reason"]
        assert [c.text() for c in fix.all("code")] == ([check["fix"]] if check["fix"] else [])
    # pinned data, environment packages, remotes, datasheets, statistics: real tables
    _, pinned = _table_rows(_section(dom, "pinned").all("table")[0])
    assert {(r[0], r[1]) for r in pinned} == {("data", "dataset"), ("models", "checkpoint")}
    _, packages = _table_rows(_section(dom, "environment").all("table")[0])
    assert [r[0] for r in packages if r[0] == "blake3"] == ["blake3"]
    header, remotes = _table_rows(_section(dom, "remotes").all("table")[0])
    assert remotes[0][header.index("name")] == "origin"
    assert remotes[0][header.index("status")] == "complete"
    _, sheets = _table_rows(_section(dom, "datasheets").all("table")[0])
    assert sheets[0][:2] == ["data", "complete"]
    _, counts = _table_rows(_section(dom, "statistics").all("table")[0])
    assert ["data", "images/cat", "3", "33"] in [r[:4] for r in counts]
    sig = _section(dom, "signatures")
    assert "How to sign" in sig.text() and "dvault key generate" in sig.text()
    # the lineage: tag names on the nodes, edges apart
    (svg,) = _section(dom, "lineage").all("svg")
    names = {t.text() for t in svg.all("text") if "names" in t.classes()}
    assert any("tag: trained" in n for n in names) and "tag: v1" in names, names
    _assert_edges_apart(svg)
    # the embedded JSON is the --json document
    (script,) = dom.all("script")
    embedded = json.loads("".join(c for c in script.children if isinstance(c, str)))
    assert embedded["checks"] == data["checks"]
    width, height = png_size(shown.png)
    assert (width, height) == (1280, 2400) and len(shown.png) > 30_000
    # printed: each section starts a page (the print CSS), so at least one page each
    assert pdf_pages(shown.pdf) >= len(SECTIONS)


def verdict_word(status: str) -> str:
    return {"pass": "PASS", "fail": "FAIL", "not recorded": "NOT RECORDED"}[status]


def test_the_lineage_page_renders_in_a_browser(tmp_path: Path, env: dict[str, str]) -> None:
    """dvault lineage --format html: the SVG has every version with its tag names, both edge
    kinds drawn apart with a legend, a card per version; nothing fetched."""
    proj = reviewed_project(tmp_path / "proj", env)
    graph = proj.ok("lineage", "trained", "--json").json()
    dom, shown = _page(proj, tmp_path, "lineage", "trained", "--format", "html")
    assert_self_contained(dom)
    (svg,) = dom.all("svg")
    nodes = [g for g in svg.all("g") if "node" in g.classes()]
    assert {g.attrs["data-id"] for g in nodes} == {n["id"] for n in graph["nodes"]}
    by_id = {g.attrs["data-id"]: g for g in nodes}
    for node in graph["nodes"]:
        names = [t.text() for t in by_id[node["id"]].all("text") if "names" in t.classes()]
        assert names == ([", ".join(node["names"])] if node["names"] else []), node
    assert any("tag: v1" in n["names"] for n in graph["nodes"])
    _assert_edges_apart(svg)
    labels = [t.text() for t in svg.all("text") if "edge-label" in t.classes()]
    assert labels == ["data@v1"]
    cards = [s for s in dom.all("section") if "card" in s.classes()]
    assert len(cards) == len(graph["nodes"])
    assert "`" not in _visible_text(dom)
    width, _ = png_size(shown.png)
    assert width == 1280 and len(shown.png) > 10_000 and pdf_pages(shown.pdf) >= 1


HOSTILE = "<script>alert(1)</script></table>|a|**b** `c` &amp; <b>x</b>"


def test_hostile_values_show_as_text_in_the_browser(tmp_path: Path, env: dict[str, str]) -> None:
    """A message, a tag name, a datasheet key and a remote path carrying HTML and Markdown
    syntax: the browser shows each exactly as written, and no element is injected."""
    tag = "t</table><script>x</script>|`c`"  # a valid ref name: no space, no '*'
    remote = tmp_path / "back|up `x` <i>y"
    proj = reviewed_project(
        tmp_path / "proj", env, message=HOSTILE, tag=tag, unknown_key=HOSTILE, remote=remote
    )
    dom, _ = _page(proj, tmp_path, "review", "--format", "html")
    assert_self_contained(dom)  # the only script is the JSON one
    for injected in ("b", "i", "script"):
        assert len(dom.all(injected)) == (1 if injected == "script" else 0), injected
    assert len(dom.all("table")) == 8  # facts, checks, pinned, packages, signatures, remotes, ...
    _, sheets = _table_rows(_section(dom, "datasheets").all("table")[0])
    assert sheets[0][3] == HOSTILE  # the unknown key, exactly
    header, remotes = _table_rows(_section(dom, "remotes").all("table")[0])
    assert remotes[0][header.index("url")] == str(remote)
    items = [li.text() for li in _section(dom, "lineage").all("li")]
    assert any(HOSTILE in item and f"tag: {tag}" in item for item in items), items
    (svg,) = _section(dom, "lineage").all("svg")
    titles = [t.text() for t in svg.all("title")]
    assert HOSTILE in titles
    names = [t.text() for t in svg.all("text") if "names" in t.classes()]
    assert any(n.startswith("main, tag: t</table>") for n in names), names
    lineage_page, _ = _page(proj, tmp_path, "lineage", "--format", "html")
    assert_self_contained(lineage_page)
    assert not lineage_page.all("b") and len(lineage_page.all("script")) == 1
    headings = [h.text() for h in lineage_page.all("h2")]
    assert any(HOSTILE in h and f"tag: {tag}" in h for h in headings), headings


def test_the_redaction_panel_in_a_browser(tmp_path: Path, env: dict[str, str]) -> None:
    """After a redaction recorded on origin by a user whose name and reason carry HTML and
    Markdown: the panel lists each altered revision with the path, the user and reason
    exactly as written, the signing key; the rest verifies; the lineage drawing marks the
    altered versions; no element is injected."""
    proj, pinned, source = _redacted(tmp_path, env)
    dom, _ = _page(proj, tmp_path, "review", "--format", "html")
    assert_self_contained(dom)
    assert len(dom.all("script")) == 1 and not dom.all("b")
    ids = [s.attrs.get("id") for s in dom.all("section")]
    assert ids == [*SECTIONS[:4], "altered", *SECTIONS[4:]]
    panel = _section(dom, "altered")
    (table,) = [t for t in panel.all("table") if "redactions" in t.classes()]
    header, rows = _table_rows(table)
    assert [r[header.index("revision")] for r in rows] == [pinned[:12], source[:12]]
    for row in rows:
        assert row[header.index("erased")] == "data/a.txt"
        assert row[header.index("by")] == USER and row[header.index("reason")] == REASON
        assert row[header.index("record")].startswith("signed by key ")
    rest = [li.text() for li in panel.all("li")]
    assert len(rest) == 2 and all("everything else verifies" in t for t in rest), rest
    (svg,) = _section(dom, "lineage").all("svg")
    marked = [g for g in svg.all("g") if "altered" in g.classes()]
    assert {g.attrs["data-id"] for g in marked} == {pinned, source}
    assert all("REDACTED" in g.text() for g in marked)
    checks = {r[1]: r for r in _table_rows(_section(dom, "checks").all("table")[0])[1]}
    recoverable = checks[verdict.CHECKS["data_recoverable"]]
    assert recoverable[0] == "FAIL" and REASON in recoverable[2]
    assert recoverable[3] == verdict.NO_FIX_ERASED
