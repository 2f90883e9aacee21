"""The review rendered for people: Markdown (CommonMark with GFM tables) and one
self-contained HTML page (dvault/review.py is the model; this module only renders it).

Both formats are made from one list of blocks (:func:`document`: headings, paragraphs,
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

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dvault import lineagesvg, verdict
from dvault.review import Review
from dvault.textsafe import first_line, html_text, markdown, markdown_code, script_json

# --- the document model: spans inside blocks -------------------------------------------------


@dataclass(frozen=True)
class Span:
    text: str
    style: str = ""  # "" plain, "code", "strong", or "badge-<status>"


Inline = tuple[Span, ...]


def _t(text: str) -> Inline:
    return (Span(text),)


def _c(text: str) -> Inline:
    return (Span(text, "code"),)


@dataclass(frozen=True)
class Para:
    text: Inline


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: Sequence[tuple[Inline, ...]]
    css: str = ""


@dataclass(frozen=True)
class Bullets:
    items: list[tuple[Inline, list[Inline]]]  # an item and its sub-items


@dataclass(frozen=True)
class Graph:
    lineage: dict[str, Any]


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list[Para | Table | Bullets | Graph] = field(default_factory=list)


Block = Para | Table | Bullets | Graph

BADGE = {verdict.PASS: "PASS", verdict.FAIL: "FAIL", verdict.NOT_RECORDED: "NOT RECORDED"}


def _badge(status: str) -> Span:
    return Span(BADGE.get(status, status.upper()), f"badge-{status.replace(' ', '-')}")


# --- the document ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Produced:
    """Who made the document and when (shown in its header)."""

    tool_version: str
    when: datetime.datetime

    @property
    def date(self) -> str:
        return self.when.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def produced_now(tool_version: str) -> Produced:
    return Produced(tool_version, datetime.datetime.now(datetime.UTC))


def _word(r: Review) -> str:
    return "reproducible" if verdict.verdict(r.checks) == "reproducible" else "NOT reproducible"


def title(r: Review) -> str:
    return f"Reproducibility review of git {r.git_rev} ({r.git_commit[:12]})"


def document(r: Review, made: Produced) -> list[Section]:
    """The review as sections of blocks, in report order."""
    checks = r.checks
    head = Section("summary", "Summary")
    head.blocks += [
        Table(
            ("fact", "value"),
            [
                (_t("git revision"), _t(r.git_rev)),
                (_t("git commit"), _c(r.git_commit)),
                (_t("dvault commit"), _c(r.pin.commit)),
                (_t("produced by"), _t(f"dvault {made.tool_version}")),
                (_t("produced on"), _t(made.date)),
            ],
            "facts",
        ),
        _verdict_para(r, checks),
    ]
    if r.signature.get("status") == "bad":
        head.blocks.append(
            Para((Span("The pinned commit's signature is BAD: it does not verify.", "strong"),))
        )
    return [
        head,
        _checks(checks),
        _pinned(r),
        _lineage(r),
        _environment(r),
        _signatures(r, checks),
        _remotes(r, checks),
        _datasheets(r),
        _statistics(r),
    ]


def _verdict_para(r: Review, checks: list[verdict.Check]) -> Para:
    word = _word(r)
    spans = [Span(f"Verdict: {word}", "strong")]
    if word == "reproducible":
        spans.append(Span(" — every check below passed."))
        return Para(tuple(spans))
    failed = [c.title for c in checks if c.status == verdict.FAIL]
    unknown = [c.title for c in checks if c.status == verdict.NOT_RECORDED]
    said = []
    if failed:
        said.append("failed: " + ", ".join(failed))
    if unknown:
        said.append("not recorded: " + ", ".join(unknown))
    fixes = "Each check below names the command that fixes it."
    spans.append(Span(" — " + "; ".join(said) + ". " + fixes))
    return Para(tuple(spans))


def _checks(checks: list[verdict.Check]) -> Section:
    section = Section("checks", "Checks")
    rows = [
        ((_badge(c.status),), _t(c.title), _t(c.reason), _c(c.fix) if c.fix else _t(""))
        for c in checks
    ]
    section.blocks.append(Table(("status", "check", "reason", "fix"), rows, "checks"))
    return section


def _pinned(r: Review) -> Section:
    section = Section("pinned", "Pinned data")
    section.blocks.append(Para((Span("dvault commit "), Span(r.pin.commit[:12], "code"))))
    rows = [
        (_t(path), _t(root.kind), _t(str(root.files)), _t(str(root.size)), _c(root.tree[:12]))
        for path, root in sorted(r.pin.roots.items())
    ]
    section.blocks.append(Table(("root", "kind", "files", "bytes", "tree"), rows))
    return section


def _node_items(node: dict[str, Any]) -> tuple[Inline, list[Inline]]:
    names = node.get("names") or []
    label: Inline = (Span(str(node["id"])[:12], "code"), Span(" "))
    if names:
        label += (Span("(" + ", ".join(map(str, names)) + ")", "strong"), Span(" "))
    label += (Span(first_line(str(node.get("message", "")))),)
    subs: list[Inline] = []
    git = node.get("git")
    if isinstance(git, dict) and git.get("commit"):
        state = "dirty" if git.get("dirty") else "clean"
        subs.append(_t(f"git {str(git['commit'])[:12]} ({state})"))
    for item in node.get("inputs", []):
        where = f"{item.get('path')}@" if item.get("path") else ""
        subs.append(_t("derived from " + where + str(item.get("rev"))))
    for item in node.get("sources", []):
        subs.append((Span(f"source {item.get('path')} "), Span(str(item.get("id"))[:12], "code")))
    run = node.get("run")
    if isinstance(run, dict) and isinstance(run.get("command"), list):
        subs.append((Span("ran "), Span(" ".join(map(str, run["command"])), "code")))
    return label, subs


def _lineage(r: Review) -> Section:
    section = Section("lineage", "Lineage")
    if r.lineage is None:
        section.blocks.append(
            Para(_t("The pinned commit is not in the local store (fetch it to see lineage)."))
        )
        return section
    section.blocks.append(Graph(r.lineage))
    section.blocks.append(Bullets([_node_items(n) for n in r.lineage["nodes"]]))
    return section


def _environment(r: Review) -> Section:
    section = Section("environment", "Environment")
    add = section.blocks.append
    rec = r.environment
    if rec is None:
        add(Para(_t("The pinned commit is not in the local store (fetch it to see it).")))
    elif rec.env is None and rec.problem:
        add(Para(_t(f"Refused: {rec.problem}.")))
    elif rec.env is None:
        add(
            Para(
                (
                    Span("Not recorded: the pinned commit was not made by "),
                    Span("dvault run", "code"),
                    Span(" or "),
                    Span("dvault commit --env", "code"),
                    Span("."),
                )
            )
        )
    else:
        add(Bullets([(_t(fact), []) for fact in rec.env.details()]))
        add(Para((Span("Environment object "), Span(rec.id[:12], "code"), Span("."))))
        if rec.env.distributions:
            rows = [(_t(n), _t(v)) for n, v in rec.env.distributions]
            add(Table(("package", "version"), rows))
    return section


def _fix_of(checks: list[verdict.Check], name: str) -> str | None:
    return next((c.fix for c in checks if c.name == name and c.status != verdict.PASS), None)


def _signatures(r: Review, checks: list[verdict.Check]) -> Section:
    section = Section("signatures", "Signatures")
    sig = r.signature
    status = str(sig.get("status"))
    said = f"dvault commit {r.pin.commit[:12]}: " if r.lineage is not None else ""
    section.blocks.append(Para(_t(said + r.signature_text)))
    row = (
        _c(r.pin.commit[:12]),
        _t(status),
        _t(str(sig.get("signer") or "")),
        _c(str(sig.get("fingerprint"))) if sig.get("fingerprint") else _t(""),
    )
    section.blocks.append(Table(("commit", "status", "signer", "key"), [row], "signatures"))
    if status == "good":
        return section
    steps = _how_to_sign(status)
    fix = _fix_of(checks, "signed")
    if fix:
        steps.insert(0, ((Span("The check's fix: "), Span(fix, "code")), []))
    section.blocks += [Para(_t("How to sign:")), Bullets(steps)]
    return section


def _how_to_sign(status: str) -> list[tuple[Inline, list[Inline]]]:
    """The steps that get a good signature from a trusted signer, for each status."""
    trust = (
        _c("dvault key export >> .dvaultsigners && git add .dvaultsigners"),
        [_t("then commit it to git: signers are trusted from git's HEAD commit, reviewed")],
    )
    if status == "unknown":
        return [(_t("The key is valid but not trusted; its owner runs:"), []), trust]
    if status == "not-local":
        return [(_c("dvault fetch"), [_t("the pinned commit, to check its signature here")])]
    steps: list[tuple[Inline, list[Inline]]] = []
    if status == "bad":
        steps.append((_t("Do not use this commit: it was forged or damaged after signing."), []))
    return [
        *steps,
        (_c("dvault key generate"), [_t("once: your ed25519 signing key")]),
        (
            _c('dvault commit --sign --allow-empty -m "signed for review"'),
            [_t("a signed version of the same data; commit dvault.lock to git to pin it")],
        ),
        trust,
    ]


def _remotes(r: Review, checks: list[verdict.Check]) -> Section:
    section = Section("remotes", "Remotes (backups)")
    recoverable = next((c for c in checks if c.name == "data_recoverable"), None)
    if recoverable is not None:
        section.blocks.append(Para(_t(f"Data recoverable: {recoverable.reason}.")))
    if not r.remotes:
        section.blocks.append(
            Para(_t("No remote is configured: the data exists only on this machine."))
        )
        return section
    keys = list(vars(r.remotes[0]))  # every fact a remote check records (lock mode too)
    rows = []
    for remote in r.remotes:
        facts = vars(remote)
        rows.append(tuple(_cell(facts.get(k)) for k in keys))
    section.blocks.append(Table(tuple(k.replace("_", " ") for k in keys), rows, "remotes"))
    return section


def _cell(value: object) -> Inline:
    if value is None:
        return _t("")
    if isinstance(value, list | tuple):
        return _t(", ".join(map(str, value)))
    return _t(str(value))


def _datasheets(r: Review) -> Section:
    section = Section("datasheets", "Datasheets")
    if r.datasheets is None:
        section.blocks.append(
            Para(_t("The pinned commit is not in the local store (fetch it to read them)."))
        )
        return section
    rows = []
    for d in r.datasheets:
        if "error" in d:
            state, missing, unknown = "NOT VALID: " + str(d["error"]), "", ""
        else:
            state = "complete" if d["complete"] else "incomplete" if d["found"] else "none"
            missing = ", ".join(map(str, d["missing"]))
            unknown = ", ".join(map(str, d["unknown"]))
        rows.append((_t(str(d["root"])), _t(state), _t(missing), _t(unknown)))
    header = ("root", "datasheet", "missing required fields", "unknown keys")
    section.blocks.append(Table(header, rows))
    if not r.datasheets_complete:
        section.blocks.append(
            Para(
                (
                    Span("To fix: "),
                    Span("dvault datasheet init ROOT", "code"),
                    Span(", fill in the fields, commit; "),
                    Span("dvault datasheet check", "code"),
                    Span(" lists what is missing."),
                )
            )
        )
    return section


FOLDER_ROWS = 100
"""Most folder rows per root in the report (the JSON has them all)."""


def _statistics(r: Review) -> Section:
    section = Section("statistics", "Statistics")
    add = section.blocks.append
    if r.stats is None:
        add(Para(_t("The pinned commit is not in the local store (fetch it to count).")))
        return section
    if r.stats.get("error"):
        add(Para(_t("Not counted: " + str(r.stats["error"]))))
        return section
    since = r.stats.get("since_commit")
    add(
        Para(
            _t(
                "Files and bytes from the trees; changes since the previous commit "
                + (f"({str(since)[:12]})." if since else "(none: the first commit).")
            )
        )
    )
    rows: list[tuple[Inline, ...]] = []
    for root in r.stats["roots"]:
        c = root["changes"] or {}
        name = str(root["root"])
        rows.append(
            tuple(
                _t(str(v))
                for v in (
                    name,
                    "(all)",
                    root["files"],
                    root["bytes"],
                    c.get("added", ""),
                    c.get("deleted", ""),
                    c.get("modified", ""),
                )
            )
        )
        folders = list(root["folders"].items())
        for folder, counts in folders[:FOLDER_ROWS]:
            cells = (name, folder, counts["files"], counts["bytes"], "", "", "")
            rows.append(tuple(_t(str(v)) for v in cells))
        if len(folders) > FOLDER_ROWS:
            more = f"({len(folders) - FOLDER_ROWS} more: dvault stats --json)"
            rows.append(tuple(_t(v) for v in (name, more, "", "", "", "", "")))
    header = ("root", "folder", "files", "bytes", "added", "deleted", "modified")
    add(Table(header, rows))
    for root in r.stats["roots"]:
        for lab in root["labels"]:
            if lab["skipped"] is not None:
                continue
            values = ", ".join(f"{k} {n}" for k, n in lab["histogram"].items())
            add(Para(_t(f"Labels in {lab['path']}: {values}")))
            if lab["changed"]:
                moves = ", ".join(
                    f"{t['count']} {t['from']} → {t['to']}" for t in lab["transitions"]
                )
                add(Para(_t(f"({lab['changed']} changed: {moves})")))
    return section


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
    word = _word(r)
    sections = []
    for section in document(r, made):
        blocks = section.blocks
        inner = "".join(_html_block(b) for b in blocks)
        if section.anchor == "summary":
            verdict_p, rest = blocks[1], blocks[:1] + blocks[2:]
            ok = "ok" if word == "reproducible" else "bad"
            inner = f'<div class="verdict {ok}">{_html_block(verdict_p)}</div>'
            inner += "".join(_html_block(b) for b in rest)
            sections.append(f'<section id="summary">{inner}</section>')
            continue
        sections.append(
            f'<section id="{section.anchor}"><h2>{html_text(section.title)}</h2>{inner}</section>'
        )
    data = script_json(r.to_json())
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
