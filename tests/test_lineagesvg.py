"""The lineage drawing (dvault/lineagesvg.py): layout, edges kept apart, names on boxes,
escaping. The rendered page in a browser: tests/cli/test_review_browser.py."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from dvault.lineagesvg import INPUT, MAX_BOXES, PARENT, Box, Link, layout, svg


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(markup: str) -> _Elements:
    parser = _Elements()
    parser.feed(markup)
    return parser


def test_a_line_of_descent_stays_in_one_column() -> None:
    boxes = [Box("c", "3", depth=0), Box("b", "2", depth=1), Box("a", "1", depth=2)]
    links = [Link("c", "b", PARENT), Link("b", "a", PARENT)]
    assert layout(boxes, links) == {"c": (0, 0), "b": (0, 1), "a": (0, 2)}


def test_two_versions_at_one_depth_take_two_columns() -> None:
    boxes = [Box("m", "merge"), Box("x", "x", depth=1), Box("y", "y", depth=1)]
    cells = layout(boxes, [Link("m", "x", PARENT), Link("m", "y", INPUT)])
    assert cells["x"][1] == cells["y"][1] == 1 and cells["x"][0] != cells["y"][0]


def test_parent_and_input_between_the_same_versions_are_two_distinct_curves() -> None:
    """A model trained on its parent's data: two arrows, styled apart, never one path."""
    drawn = svg(
        [Box("m", "model"), Box("d", "data", depth=1)],
        [Link("m", "d", PARENT), Link("m", "d", INPUT, "data@v1")],
    )
    paths = [a for tag, a in _parse(drawn).found if tag == "path" and a.get("data-kind")]
    assert [p["data-kind"] for p in paths] == [PARENT, INPUT]
    assert paths[0]["d"] != paths[1]["d"]
    assert paths[0]["stroke"] != paths[1]["stroke"]
    assert paths[0].get("stroke-dasharray") and not paths[1].get("stroke-dasharray")
    starts = [re.match(r"M(\d+),", str(p["d"])) for p in paths]
    assert starts[0] and starts[1] and starts[0].group(1) != starts[1].group(1)
    assert "data@v1" in _parse(drawn).text


def test_two_inputs_from_one_version_are_one_arrow_with_both_labels() -> None:
    drawn = svg(
        [Box("m", "model"), Box("d", "data", depth=1)],
        [Link("m", "d", INPUT, "data@v1"), Link("m", "d", INPUT, "labels@v1")],
    )
    assert drawn.count('data-kind="input"') == 1
    assert "data@v1, labels@v1" in _parse(drawn).text


def test_names_are_on_the_boxes_and_every_string_is_escaped() -> None:
    evil = "<script>alert(1)</script>\x1b[2K</svg>"
    drawn = svg(
        [Box("a" * 64, evil, ("main", f"tag: {evil}")), Box("b" * 64, "old", (), 1, False)],
        [Link("a" * 64, "b" * 64, INPUT, evil)],
    )
    parsed = _parse(drawn)
    assert [tag for tag, _ in parsed.found if tag in ("script", "svg")] == ["svg"]
    assert "\x1b" not in drawn and "\\x1b[2K" in "".join(parsed.text)
    assert any(t.startswith("main, tag: <script>") for t in parsed.text)
    names = [a for tag, a in parsed.found if tag == "text" and a.get("class") == "names"]
    assert len(names) == 1  # the second box has no names


def test_a_huge_graph_draws_the_nearest_versions_and_says_how_many_are_left() -> None:
    boxes = [Box(f"{i:064x}", str(i), depth=i) for i in range(MAX_BOXES + 5)]
    links = [Link(f"{i:064x}", f"{i + 1:064x}", PARENT) for i in range(MAX_BOXES + 4)]
    drawn = svg(boxes, links)
    assert drawn.count('class="node"') == MAX_BOXES
    assert "5 more version(s) not drawn" in drawn
