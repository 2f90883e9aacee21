"""The lineage graph as inline SVG, drawn server-side (``dvault lineage --format html`` and
the review's Lineage section): no script, no font or image fetched, readable and printable
as it is.

Each version is a box: its short id, its title, and the branch and tag names pointing at it
(``tag: v1``, ``main``). Two kinds of arrow leave a box, drawn so they can never be taken
for one another or lie on top of each other:

* ``parent`` (the previous version): grey, dashed, leaving from the left third of the box;
* ``input`` (derived from, ``--input``): blue, solid, thicker, leaving from the right third,
  labelled with what was declared (``data@v1``).

So a version derived from its own parent shows two parallel curves, not one. A legend in
the drawing says which is which. A version a redaction altered (``dvault redact`` erased
some of its contents; its id is unchanged) has a red border and the word ``REDACTED``.
Rows are lineage depth (the version asked about on top); a version stays in the column of
the first version pointing at it when it can, the way ``log --graph`` keeps a line of
descent in its lane (dvault/graphlanes.py).

Every string is attacker input (messages, names, labels) and passes through
:func:`textsafe.html_text`; ids and numbers are ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dvault.textsafe import html_text

PARENT, INPUT = "parent", "input"

WIDTH, HEIGHT, GAP_X, GAP_Y, MARGIN, LEGEND = 220, 62, 40, 64, 16, 34
TITLE_CHARS, NAMES_CHARS, LABEL_CHARS = 32, 30, 28
MAX_BOXES = 200
"""Most versions drawn (nearest first); the cards and the JSON still list every one."""


@dataclass(frozen=True)
class Box:
    id: str
    title: str
    names: tuple[str, ...] = ()
    depth: int = 0
    available: bool = True
    altered: bool = False
    """A redaction erased some of its contents (drawn red, marked REDACTED)."""


@dataclass(frozen=True)
class Link:
    source: str  # the derived version
    target: str  # what it came from
    kind: str  # PARENT or INPUT
    label: str = ""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def layout(boxes: Sequence[Box], links: Sequence[Link]) -> dict[str, tuple[int, int]]:
    """Column and row of each box: row = depth; a box takes the column of the first box
    pointing at it when that cell is free, else the leftmost free column of its row."""
    pointed_from: dict[str, list[str]] = {}
    for link in links:
        pointed_from.setdefault(link.target, []).append(link.source)
    cell: dict[str, tuple[int, int]] = {}
    taken: set[tuple[int, int]] = set()
    for box in sorted(boxes, key=lambda b: b.depth):
        wanted = [cell[s][0] for s in pointed_from.get(box.id, []) if s in cell]
        col = wanted[0] if wanted and (wanted[0], box.depth) not in taken else 0
        while (col, box.depth) in taken:
            col += 1
        cell[box.id] = (col, box.depth)
        taken.add((col, box.depth))
    return cell


def _edge(link: Link, a: tuple[int, int], b: tuple[int, int]) -> str:
    """One curve from box ``a`` (x, y) to box ``b``: parent from the left third, input from
    the right third, so the two kinds between the same boxes never coincide."""
    offset = -WIDTH // 6 if link.kind == PARENT else WIDTH // 6
    x1, x2 = a[0] + WIDTH // 2 + offset, b[0] + WIDTH // 2 + offset
    if b[1] > a[1]:  # the usual case: what it came from is drawn below
        y1, y2 = a[1] + HEIGHT, b[1]
    else:  # same row or above (a version reached by a shorter path): side to side
        y1, y2 = a[1] + HEIGHT // 2, b[1] + HEIGHT // 2
    bend = max(24, abs(y2 - y1) // 2) * (1 if y2 >= y1 else -1)
    if y1 == y2:
        bend = 40
    path = f"M{x1},{y1} C{x1},{y1 + bend} {x2},{y2 - bend} {x2},{y2}"
    if link.kind == PARENT:
        style = 'stroke="#6e7781" stroke-width="1.5" stroke-dasharray="6 4"'
        marker = "lin-arrow-parent"
    else:
        style = 'stroke="#1f6feb" stroke-width="2.5"'
        marker = "lin-arrow-input"
    what = "parent (previous version)" if link.kind == PARENT else "derived from " + link.label
    out = (
        f'<path class="edge edge-{link.kind}" data-kind="{link.kind}" d="{path}" fill="none" '
        f'{style} marker-end="url(#{marker})"><title>{html_text(what)}</title></path>'
    )
    if link.kind == INPUT and link.label:
        mx, my = (x1 + x2) // 2 + 6, (y1 + y2) // 2 + 4
        out += (
            f'<text class="edge-label" x="{mx}" y="{my}" font-size="10" fill="#1f6feb">'
            f"{html_text(_clip(link.label, LABEL_CHARS))}</text>"
        )
    return out


def _box(box: Box, x: int, y: int, n: int) -> str:
    """Box number ``n``: its texts are clipped to the box (wide letters cannot spill)."""
    fill = "#f6f8fa" if box.available else "#ffffff"
    dash = "" if box.available else ' stroke-dasharray="3 3"'
    stroke = '#cf222e" stroke-width="2.5' if box.altered else "#333"
    names = ", ".join(box.names)
    title = box.title + (" (altered by a redaction)" if box.altered else "")
    marked = ' data-altered="true"' if box.altered else ""
    parts = [
        f'<g class="node{" altered" if box.altered else ""}" data-id="{html_text(box.id)}"'
        f"{marked}><title>{html_text(title)}</title>",
        f'<clipPath id="lin-clip-{n}"><rect x="{x + 4}" y="{y}" width="{WIDTH - 8}" '
        f'height="{HEIGHT}"/></clipPath>',
        f'<rect x="{x}" y="{y}" width="{WIDTH}" height="{HEIGHT}" rx="6" fill="{fill}" '
        f'stroke="{stroke}"{dash}/>',
        f'<g clip-path="url(#lin-clip-{n})">',
        f'<text x="{x + 8}" y="{y + 17}" font-family="monospace" font-size="12">'
        f"{html_text(box.id[:12])}</text>",
        f'<text x="{x + 8}" y="{y + 34}" font-size="11">'
        f"{html_text(_clip(box.title, TITLE_CHARS))}</text>",
    ]
    if box.altered:
        parts.append(
            f'<text class="redacted" x="{x + WIDTH - 8}" y="{y + 17}" font-size="10" '
            f'font-weight="bold" text-anchor="end" fill="#cf222e">REDACTED</text>'
        )
    if names:
        parts.append(
            f'<text class="names" x="{x + 8}" y="{y + 51}" font-size="11" font-weight="bold" '
            f'fill="#8250df">{html_text(_clip(names, NAMES_CHARS))}</text>'
        )
    parts.append("</g></g>")
    return "".join(parts)


def _legend(y: int, altered: bool) -> str:
    redacted = (
        f'<text x="{MARGIN + 420}" y="{y + 4}" fill="#cf222e" font-weight="bold">'
        "REDACTED: contents erased by dvault redact</text>"
        if altered
        else ""
    )
    return (
        f'<g class="legend" font-size="11">'
        f'<path d="M{MARGIN},{y} h40" stroke="#6e7781" stroke-width="1.5" '
        f'stroke-dasharray="6 4" marker-end="url(#lin-arrow-parent)"/>'
        f'<text x="{MARGIN + 50}" y="{y + 4}">parent (previous version)</text>'
        f'<path d="M{MARGIN + 230},{y} h40" stroke="#1f6feb" stroke-width="2.5" '
        f'marker-end="url(#lin-arrow-input)"/>'
        f'<text x="{MARGIN + 280}" y="{y + 4}">derived from (input)</text>{redacted}</g>'
    )


_MARKER = (
    '<marker id="lin-arrow-{kind}" markerUnits="userSpaceOnUse" markerWidth="10" '
    'markerHeight="8" refX="9" refY="4" orient="auto">'
    '<polygon points="0 0, 10 4, 0 8" fill="{colour}"/></marker>'
)
_DEFS = (
    "<defs>"
    + _MARKER.format(kind=PARENT, colour="#6e7781")
    + _MARKER.format(kind=INPUT, colour="#1f6feb")
    + "</defs>"
)


def svg(boxes: Sequence[Box], links: Sequence[Link]) -> str:
    """The graph as one ``<svg>`` element (inline: its markers are ``#`` references)."""
    shown = sorted(boxes, key=lambda b: (b.depth, b.id))[:MAX_BOXES]
    ids = {b.id for b in shown}
    merged: dict[tuple[str, str, str], list[str]] = {}
    for link in links:  # data@v1 and labels@v1 from one version: one arrow, both labels
        if link.source in ids and link.target in ids and link.source != link.target:
            labels = merged.setdefault((link.source, link.target, link.kind), [])
            if link.label and link.label not in labels:
                labels.append(link.label)
    drawn = [Link(s, t, k, ", ".join(labels)) for (s, t, k), labels in merged.items()]
    cells = layout(shown, drawn)
    at = {
        i: (MARGIN + c * (WIDTH + GAP_X), LEGEND + MARGIN + r * (HEIGHT + GAP_Y))
        for i, (c, r) in cells.items()
    }
    cols = max((c for c, _ in cells.values()), default=0) + 1
    rows = max((r for _, r in cells.values()), default=0) + 1
    altered = any(b.altered for b in shown)
    width = max(2 * MARGIN + cols * WIDTH + (cols - 1) * GAP_X + 60, 700 if altered else 440)
    height = LEGEND + 2 * MARGIN + rows * HEIGHT + (rows - 1) * GAP_Y
    body = [_edge(link, at[link.source], at[link.target]) for link in drawn]
    body += [_box(b, *at[b.id], n) for n, b in enumerate(shown)]
    more = len(boxes) - len(shown)
    note = (
        f'<text x="{MARGIN}" y="{height - 4}" font-size="11">{more} more version(s) not '
        "drawn: see the list below</text>"
        if more > 0
        else ""
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" '
        f'height="{height + (14 if more > 0 else 0)}" viewBox="0 0 {width} '
        f'{height + (14 if more > 0 else 0)}" role="img" aria-label="lineage graph" '
        f'font-family="system-ui, sans-serif">{_DEFS}{_legend(MARGIN + 4, altered)}'
        f"{''.join(body)}{note}</svg>"
    )
