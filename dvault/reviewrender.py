"""The review rendered for people: Markdown (CommonMark with GFM tables) and one
self-contained HTML page (dvault/review.py is the model; this module only renders it).

Both formats are made from one document (dvault/reviewdoc.py: sections of paragraphs,
tables, bullet lists, the lineage graph), so they say the same thing and the Markdown is
valid by construction: every block is separated from the next by a blank line, so no table
is glued to a sentence (the bug issue 21 found in a review without a remote).

The HTML page needs nothing but itself: inline CSS, the lineage graph as inline SVG drawn
here (dvault/lineagesvg.py), no script to run, no font, image or link fetched; it prints
to PDF from the browser (a page break before each section, no dark backgrounds). The
review's JSON is embedded as ``<script type="application/json" id="review-data">``, which
a browser never runs.

Every string quoted from a commit, a lock file, a datasheet, a remote or a signer list is
attacker input: spans of text are escaped for the format they land in
(dvault/textsafe.py) when the blocks are rendered, never before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dvault import lineagesvg
from dvault.review import Review
from dvault.reviewdoc import (
    Block,
    Bullets,
    Inline,
    Para,
    Produced,
    Table,
    document,
    json_document,
    produced_now,
    title,
)
from dvault.textsafe import first_line, html_text, markdown, markdown_code, script_json

__all__ = ["RENDERERS", "Produced", "json_document", "produced_now", "to_html", "to_markdown"]

# --- Markdown -------------------------------------------------------------------------------


def _md_inline(spans: Inline) -> str:
    out = []
    for span in spans:
        if span.style == "code":
            out.append(markdown_code(span.text))
        elif span.style == "strong" or span.style.startswith("badge-"):
            out.append(f"**{markdown(span.text)}**" if span.text else "")
        else:
            out.append(markdown(span.text))
    return "".join(out)


def _md_block(block: Block) -> list[str]:
    if isinstance(block, Para):
        return [_md_inline(block.text)]
    if isinstance(block, Table):
        lines = [
            "| " + " | ".join(markdown(h) for h in block.header) + " |",
            "|" + "---|" * len(block.header),
        ]
        lines += ["| " + " | ".join(_md_inline(c) for c in row) + " |" for row in block.rows]
        return lines
    if isinstance(block, Bullets):
        lines = []
        for item, subs in block.items:
            lines.append("- " + _md_inline(item))
            lines += ["  - " + _md_inline(s) for s in subs]
        return lines
    return []  # the graph: the bullet list that follows it says the same in Markdown


def to_markdown(r: Review, made: Produced) -> str:
    """The report as CommonMark (GFM tables): one blank line between blocks."""
    chunks = [[f"# {markdown(title(r))}"]]
    for section in document(r, made):
        if section.anchor != "summary":
            chunks.append([f"## {markdown(section.title)}"])
        chunks += [lines for lines in map(_md_block, section.blocks) if lines]
    return "\n\n".join("\n".join(lines) for lines in chunks) + "\n"


# --- HTML -----------------------------------------------------------------------------------


def _html_inline(spans: Inline) -> str:
    out = []
    for span in spans:
        text = html_text(span.text)
        if span.style == "code":
            out.append(f"<code>{text}</code>")
        elif span.style == "strong":
            out.append(f"<strong>{text}</strong>")
        elif span.style.startswith("badge-"):
            out.append(f'<span class="badge {span.style}">{text}</span>')
        else:
            out.append(text)
    return "".join(out)


def _html_block(block: Block) -> str:
    if isinstance(block, Para):
        return f"<p>{_html_inline(block.text)}</p>"
    if isinstance(block, Table):
        head = "".join(f'<th scope="col">{html_text(h)}</th>' for h in block.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{_html_inline(c)}</td>" for c in row) + "</tr>"
            for row in block.rows
        )
        css = f' class="{block.css}"' if block.css else ""
        return f"<table{css}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Bullets):
        items = []
        for item, subs in block.items:
            inner = "".join(f"<li>{_html_inline(s)}</li>" for s in subs)
            items.append(f"<li>{_html_inline(item)}" + (f"<ul>{inner}</ul>" if inner else ""))
            items[-1] += "</li>"
        return f"<ul>{''.join(items)}</ul>"
    return f'<div class="graph">{_lineage_svg(block.lineage)}</div>'


def _lineage_svg(graph: dict[str, Any]) -> str:
    """The lineage JSON of the review (lineage.to_json) as the lineage page draws it."""
    boxes = [
        lineagesvg.Box(
            str(n["id"]),
            first_line(str(n.get("message", ""))),
            tuple(map(str, n.get("names") or ())),
            n["depth"] if isinstance(n.get("depth"), int) else 0,
            bool(n.get("available", True)),
            bool(n.get("redactions")),
        )
        for n in graph["nodes"]
    ]
    links = [
        lineagesvg.Link(str(e["source"]), str(e["target"]), str(e["kind"]), str(e["label"]))
        for e in graph["edges"]
    ]
    return lineagesvg.svg(boxes, links)


CSS = """\
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:75em;
 padding:0 1.5em;color:#1f2328;background:#fff;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.3em}h2{font-size:1.25em;border-bottom:1px solid #d0d7de;
 padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{font-family:ui-monospace,monospace;background:#f0f2f4;
 padding:0 .3em;border-radius:3px;word-break:break-all}
.verdict{font-size:1.2em;padding:.6em 1em;border-radius:6px;border:2px solid}
.verdict.ok{border-color:#1a7f37;color:#1a7f37}.verdict.bad{border-color:#cf222e;color:#cf222e}
.badge{display:inline-block;font-weight:bold;font-size:.85em;padding:.1em .5em;border-radius:1em;
 border:1px solid;white-space:nowrap}
.badge-pass{color:#1a7f37}.badge-fail{color:#cf222e}.badge-not-recorded{color:#9a6700}
.graph{overflow-x:auto;margin:.6em 0}
@media print{body{margin:0;max-width:none;padding:0;font-size:10pt}
 section+section{break-before:page}table,tr,.graph{break-inside:avoid}.graph{overflow:visible}
 a{color:inherit}}
"""
"""Light on any screen and on paper; a page break before each section when printed."""


def to_html(r: Review, made: Produced) -> str:
    """One self-contained page (no script to run, nothing fetched), printable to PDF."""
    sections = []
    for section in document(r, made):
        blocks = section.blocks
        inner = "".join(_html_block(b) for b in blocks)
        if section.anchor == "summary":
            verdict_p, rest = blocks[1], blocks[:1] + blocks[2:]
            ok = "ok" if section.verdict == "reproducible" else "bad"
            inner = f'<div class="verdict {ok}">{_html_block(verdict_p)}</div>'
            inner += "".join(_html_block(b) for b in rest)
            sections.append(f'<section id="summary">{inner}</section>')
            continue
        sections.append(
            f'<section id="{section.anchor}"><h2>{html_text(section.title)}</h2>{inner}</section>'
        )
    data = script_json(json_document(r, made))
    heading = html_text(title(r))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="generator" content="dvault {html_text(made.tool_version)}">
<title>{heading}</title>
<style>{CSS}</style></head><body>
<header><h1>{heading}</h1></header>
{"".join(sections)}
<script type="application/json" id="review-data">{data}</script>
</body></html>
"""


Render = Callable[[Review, Produced], str]
RENDERERS: dict[str, Render] = {"md": to_markdown, "html": to_html}
"""The rendered formats of ``dvault review --format`` (json is the model's own)."""
