"""The review renderers on a review built in memory (dvault/reviewrender.py): the edge
cases a project is slow to reach — a pinned commit not in the local store, a damaged
statistics result, a remote that could not be reached. The real command line and a real
browser: tests/cli/test_review_markdown.py, tests/cli/test_review_browser.py."""

from __future__ import annotations

import datetime
import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt

from dvault import verdict
from dvault.pins import Pin, RootPin
from dvault.review import RemoteCheck, Review
from dvault.reviewdoc import Produced
from dvault.reviewrender import to_html, to_markdown

MADE = Produced("9.9.9", datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC))


def _not_local() -> Review:
    pin = Pin("ab" * 32, {"data": RootPin("dataset", "cd" * 32, 10, 2)})
    signature = {"status": "not-local", "signer": None, "key": None, "fingerprint": None}
    review = Review("v1.0", "12" * 20, pin, None, signature, "not checked: not local")
    review.remotes.append(RemoteCheck("origin", "s3://bucket/x", "unreachable", detail="timeout"))
    return review


def test_a_pinned_commit_not_in_the_local_store_renders_every_section() -> None:
    text = to_markdown(_not_local(), MADE)
    tokens = MarkdownIt("commonmark", {"html": True}).enable("table").parse(text)
    assert not [t for t in tokens if t.type.startswith("html")]
    assert sum(t.type == "table_open" for t in tokens) == 5  # facts, checks, pin, sig, remote
    assert "| produced by | dvault 9.9.9 |" in text
    assert "| produced on | 2026-01-02 03:04:05 UTC |" in text
    for said in ("see lineage", "to see it", "to read them", "to count"):
        assert said in text, said
    assert "- `dvault fetch`" in text  # how to get the signature checked
    (row,) = [r for r in text.splitlines() if r.startswith("| origin | s3://bucket/x |")]
    assert "| unreachable | 0 | 0 | 0 |" in row and "| timeout |" in row


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.sections: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "section":
            self.sections.append(str(dict(attrs).get("id")))


def test_the_html_of_a_review_without_lineage_has_no_graph_and_every_check() -> None:
    review = _not_local()
    page = to_html(review, MADE)
    parsed = _Tags()
    parsed.feed(page)
    assert "svg" not in parsed.tags and "pre" not in parsed.tags
    assert parsed.sections[0] == "summary" and "lineage" in parsed.sections
    for check in review.checks:
        assert f"<td>{check.title}</td>" in page
    assert page.count('class="badge badge-') == len(verdict.CHECKS)
    assert '<div class="verdict bad">' in page
    assert '<meta name="generator" content="dvault 9.9.9">' in page


def test_a_statistics_error_is_one_sentence() -> None:
    review = _not_local()
    review.stats = {"error": "tree 1234 is damaged | <b>", "roots": [], "since_commit": None}
    text = to_markdown(review, MADE)
    assert "Not counted: tree 1234 is damaged \\| \\<b\\>" in text
    assert "Not counted: tree 1234 is damaged | &lt;b&gt;" in to_html(review, MADE)


def test_no_dark_background_on_screen_or_paper() -> None:
    """Every background colour the review and lineage pages set is light (a printed page
    stays readable and cheap in ink), and the pages ask for the light colour scheme."""
    from dvault.lineage import PAGE_CSS
    from dvault.reviewrender import CSS

    for css in (CSS, PAGE_CSS):
        colours = re.findall(r"background(?:-color)?:\s*#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b", css)
        assert colours, css
        for colour in colours:
            full = "".join(c * 2 for c in colour) if len(colour) == 3 else colour
            r, g, b = (int(full[i : i + 2], 16) / 255 for i in (0, 2, 4))
            assert 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.85, colour
        assert "background:#fff" in css and "@media print" in css
