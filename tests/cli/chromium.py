"""Headless Chromium (Debian's package, /usr/bin/chromium) for the rendered-page tests: one
browser start per page gives the rendered DOM, a screenshot and the page printed to PDF.
(Scripts stay on: with them off, headless Chromium writes no screenshot. A page must have
none to run: :func:`assert_self_contained`.)

Without Chromium the tests skip, unless ``CI`` is set: then a missing browser fails, so CI
can never pass by not looking (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    """The browser's path; skips (or, under CI, fails) when there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed and CI is set: .ci/run installs it")
    pytest.skip("chromium is not installed (apt-get install chromium); set CI to make this fail")


@dataclass
class Rendered:
    dom: str
    """The document as the browser built it (``--dump-dom``)."""
    png: bytes
    """The screenshot."""
    pdf: bytes
    """The page printed to PDF, as "Print to PDF" does (without the browser's own header
    and footer)."""


def render(page: Path, work: Path, width: int = 1280, height: int = 2400) -> Rendered:
    """Load ``page`` (a file) in headless Chromium, once: its DOM, a screenshot, a PDF."""
    browser = chromium()
    shot, pdf = work / f"{page.stem}.png", work / f"{page.stem}.pdf"
    args = [browser, *FLAGS, f"--user-data-dir={work / 'chromium-profile'}", "--dump-dom"]
    args += [f"--screenshot={shot}", f"--window-size={width},{height}"]
    args += ["--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.resolve().as_uri()]
    try:
        done = _session(args)
    except subprocess.TimeoutExpired:  # e.g. an injected alert() holding the page
        pytest.fail(f"{page.name} did not finish loading in Chromium within {TIMEOUT} s")
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return Rendered(done.stdout.decode(), shot.read_bytes(), pdf.read_bytes())


TIMEOUT = 60


def pdf_pages(pdf: bytes) -> int:
    """How many pages a PDF from Chromium has (its page objects are not compressed)."""
    assert pdf.startswith(b"%PDF-"), pdf[:16]
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def _session(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Chromium in a session of its own, so a timeout ends it and all its helpers."""
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str]

    def all(self, tag: str | None = None) -> list[Element]:
        """Every element below (and including) this one, of ``tag`` if given."""
        found = [self] if tag in (None, self.tag) else []
        for child in self.children:
            if isinstance(child, Element):
                found += child.all(tag)
        return found

    def text(self) -> str:
        """The text a reader sees: every text node below, scripts and styles left out."""
        if self.tag in ("script", "style"):
            return ""
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


def parse(markup: str) -> Element:
    """The DOM Chromium printed, as a tree (html.parser: no third-party parser needed)."""
    from html.parser import HTMLParser

    top = Element("#document", {}, [])
    stack = [top]

    class _Builder(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            element = Element(tag, {k: v or "" for k, v in attrs}, [])
            stack[-1].children.append(element)
            if tag not in VOID:
                stack.append(element)

        def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}, []))

        def handle_endtag(self, tag: str) -> None:
            for i in range(len(stack) - 1, 0, -1):
                if stack[i].tag == tag:
                    del stack[i:]
                    return

        def handle_data(self, data: str) -> None:
            stack[-1].children.append(data)

    builder = _Builder(convert_charrefs=True)
    builder.feed(markup)
    builder.close()
    return top


def assert_self_contained(dom: Element) -> None:
    """Nothing the page could fetch: every src/href is a fragment or a data: URI, no
    stylesheet link, frame or object, no executable script, no CSS that loads a URL."""
    for element in dom.all():
        for name, value in element.attrs.items():
            if name in ("src", "href", "xlink:href", "srcset", "poster", "action", "data"):
                assert value.startswith(("#", "data:")), (element.tag, name, value)
        assert element.tag not in ("link", "iframe", "frame", "object", "embed", "base")
        if element.tag == "script":
            assert element.attrs.get("type") == "application/json", element.attrs
    for style in dom.all("style"):
        css = "".join(c for c in style.children if isinstance(c, str))
        assert "@import" not in css and "url(" not in css.replace("url(#", ""), css


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG (from its IHDR chunk), asserting it is one."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR", png[:16]
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
