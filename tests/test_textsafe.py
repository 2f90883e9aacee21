"""dvault/textsafe.py: untrusted text made safe per format, and nothing else changed."""

from __future__ import annotations

import json
import os
import re

import pytest

from dvault import textsafe

UNSAFE = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] + [
    "\u061c", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069", "\u2028", "\u2029",
]  # fmt: skip


@pytest.mark.parametrize("char", UNSAFE, ids=[f"U+{ord(c):04X}" for c in UNSAFE])
def test_every_control_becomes_a_visible_escape(char: str) -> None:
    shown = textsafe.line(f"a{char}b")
    assert shown.startswith("a\\") and shown.endswith("b") and shown.isprintable()
    kept = textsafe.block(f"a{char}b")
    assert kept == ("a\nb" if char == "\n" else shown)


def test_printable_text_is_unchanged() -> None:
    text = "données/日本語 – naïve \\x1b <b> | `x`"
    assert textsafe.line(text) == text


def test_message_lines_split_at_newlines_only() -> None:
    assert textsafe.message_lines("a\r\nb\rc\x0bd\n") == ["a", "b\\rc\\x0bd", ""]
    assert textsafe.first_line("\x1b[2Ktitle\nbody") == "\\x1b[2Ktitle"


def test_markdown_cannot_open_tags_or_split_cells() -> None:
    md = textsafe.markdown("a|<script>*x*`y`\x1b")
    assert re.sub(r"\\.", "", md) == "ascriptxyx1b"  # every special character escaped
    code = textsafe.markdown_code("a``b|c")
    assert code.startswith("``` ") and code.endswith(" ```") and "\\|" in code


def test_html_and_dot_and_script_json() -> None:
    assert textsafe.html_text('<a href="x">\x1b') == "&lt;a href=&quot;x&quot;&gt;\\x1b"
    assert textsafe.dot_string('a"];\\N\n') == '"a\\"];\\\\N\\\\n"'
    value = {"k": "</script><!--<script>&\u202e"}
    dumped = textsafe.script_json(value)
    assert "<" not in dumped and ">" not in dumped and "&" not in dumped
    assert json.loads(dumped) == value


def test_json_text_is_faithful() -> None:
    value = {"author": "m\x1b]0;t\x07\u202e\x9b\x7f", "n": [1, "\u2028"]}
    dumped = json.dumps(value, indent=2, ensure_ascii=False)
    safe = textsafe.json_text(dumped)
    assert json.loads(safe) == value
    assert re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2028]", safe) is None


def test_json_text_escapes_a_name_that_is_not_utf8() -> None:
    """A path whose bytes are not UTF-8 reaches JSON as os.fsdecode's lone surrogates:
    escaped, the document encodes as strict UTF-8 and parses back to the same name."""
    value = {"path": os.fsdecode(b"data/bad\xff\xfe.bin")}
    safe = textsafe.json_text(json.dumps(value, ensure_ascii=False))
    assert "\\udcff\\udcfe" in safe
    safe.encode("utf-8")  # raised UnicodeEncodeError before
    assert os.fsencode(json.loads(safe)["path"]) == b"data/bad\xff\xfe.bin"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("data/a.csv", "data/a.csv"),
        ("data/a b.csv", "data/a b.csv"),  # a space is not quoted (git does not either)
        ("données/été.csv", "données/été.csv"),  # printable UTF-8 as it is
        ("a\nb", '"a\\nb"'),
        ("t\tx\r", '"t\\tx\\r"'),
        ("x\x1b[2K", '"x\\033[2K"'),
        ('q"b', '"q\\"b"'),
        ("b\\s", '"b\\\\s"'),
        ("r\u202eg", '"r\\342\\200\\256g"'),  # a bidi control: its UTF-8 bytes in octal
        ("c1\x9b", '"c1\\302\\233"'),
        (os.fsdecode(b"bad\xff.bin"), '"bad\\377.bin"'),  # a byte that is not UTF-8
    ],
)
def test_path_is_quoted_as_git_quotes_a_name(name: str, shown: str) -> None:
    assert textsafe.path(name) == shown
    assert textsafe.line(shown) == shown  # nothing left for the output to escape
