"""Untrusted text made safe to show: on a terminal, in Markdown, in HTML, in Graphviz dot.

Commit messages, authors, taggers, lineage values, signer names, paths from trees and the
work tree, remote names and URLs from a committed config, ref-log user and host names and
error messages that quote any of them are attacker input. Printed raw, ``\\x1b[2K\\r``
erases a line and writes another ("good signature by alice" under an unsigned commit),
``\\x1b]0;...\\x07`` retitles the terminal, and a bidi override (U+202E) shows text in an
order other than the one it is stored in.

So every such string passes through one of these functions before it is printed. The
characters below become visible escapes, the way git quotes a path (``\\x1b``, ``\\u202e``):

* C0 controls (U+0000-U+001F) and DEL, including ESC, CR, BEL, TAB and - except where a
  format keeps line structure (:func:`block`) - the newline;
* C1 controls (U+0080-U+009F: CSI, OSC, NEL are single code points too);
* the bidi controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) and the line and
  paragraph separators U+2028, U+2029 (line breaks to some viewers);
* a byte of a file name that is not UTF-8 (``os.fsdecode`` makes it a lone surrogate,
  which no terminal can show) becomes ``\\xNN``, its value.

A backslash is shown as it is, so ``\\x1b`` may also be those four characters: ``--json``
gives the exact value. A file name on a line of its own is shown as git shows one instead
(:func:`path`): quoted in C style when it holds such a character, a quote or a backslash.
JSON output stays faithful data (:func:`json_text`): the same characters are written
as ``\\uXXXX`` escapes, which a JSON parser turns back into the original string, so a JSON
document is as safe to print as text and loses nothing.
"""

from __future__ import annotations

import re

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_UNDECODABLE = "\udc80-\udcff"  # os.fsdecode's stand-ins for bytes that are not UTF-8
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_UNDECODABLE}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI}{_UNDECODABLE}]")
_JSON_RAW = re.compile(f"[\x7f-\x9f{_BIDI}{_UNDECODABLE}]")  # json.dumps escapes C0 itself
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the byte of a file name that is not UTF-8
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def line(text: str) -> str:
    """One line of untrusted text for a terminal: every control character, newline
    included, becomes a visible escape, so it can neither move the cursor nor start a
    line of its own."""
    return _UNSAFE.sub(_visible, text)


def block(text: str) -> str:
    """Untrusted text whose newlines are kept (a rendered report): everything else
    :func:`line` escapes is escaped. Only for text whose lines cannot be taken for
    dvault's own (a renderer that indents or marks them); otherwise use :func:`line`."""
    return _UNSAFE_BUT_NEWLINE.sub(_visible, text)


def message_lines(text: str) -> list[str]:
    """A commit or tag message as safe lines: split at newlines (CRLF counts as one), each
    line escaped. The caller indents them (as git does: four spaces), so no line of a
    message can pass for a header line such as ``Signature:`` or ``Author:``."""
    return [line(part) for part in text.replace("\r\n", "\n").split("\n")]


def first_line(text: str) -> str:
    """The title of a message (its first line), escaped."""
    return line(text.replace("\r\n", "\n").split("\n", 1)[0])


_QUOTED = re.compile(f'[\x00-\x1f\x7f-\x9f"\\\\{_BIDI}{_UNDECODABLE}]')
_C_ESCAPES = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v"}
_C_ESCAPES |= {"\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def _c_escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _C_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\{code - 0xDC00:03o}"  # the byte of a file name that is not UTF-8
    return "".join(f"\\{byte:03o}" for byte in char.encode())


def path(text: str) -> str:
    """A file name as git shows one (``core.quotePath=false``): as it is, unless it holds a
    character :func:`line` escapes, a double quote or a backslash; then in double quotes
    with C escapes (``\\n``, ``\\t``, ``\\"``, ``\\\\``) and every other such
    character as the octal escapes of its UTF-8 bytes (a byte that is not UTF-8 as its
    own octal escape): ``"data/a\\nb.csv"``, ``"x\\033[2K"``. Printable non-ASCII text
    (``données/été.csv``) is shown as it is, and no quoted name can pass for another."""
    if not _QUOTED.search(text):
        return text
    return f'"{_QUOTED.sub(_c_escape, text)}"'


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def markdown(text: str) -> str:
    """Untrusted text as Markdown prose or a table cell: escaped as :func:`line`, then
    every character Markdown or inline HTML would interpret (``<``, ``&``, ``|``,
    backticks, emphasis, links) is backslash-escaped, as CommonMark allows for any ASCII
    punctuation, so it shows literally and cannot end a table cell or open a tag."""
    return _MD_SPECIAL.sub(r"\\\1", line(text))


def markdown_code(text: str) -> str:
    """Untrusted text as an inline code span: a fence of one more backtick than the
    longest run inside (CommonMark), padded with spaces, and ``|`` escaped (GFM tables
    split cells at a pipe even inside code)."""
    safe = line(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", safe)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {safe} {fence}" if longest else f"`{safe}`"


def html_text(text: str) -> str:
    """Untrusted text for HTML element content or a quoted attribute: escaped as
    :func:`line`, then ``html.escape`` (``<``, ``>``, ``&``, both quotes)."""
    import html

    return html.escape(line(text), quote=True)


def dot_string(text: str) -> str:
    """Untrusted text as a Graphviz double-quoted string, quotes included: escaped as
    :func:`line`, then backslashes doubled (``\\n``, ``\\N``, ``\\l`` would otherwise
    be Graphviz escapes) and double quotes escaped, so it cannot end the string."""
    safe = line(text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{safe}"'


def json_text(dumped: str) -> str:
    """A document from ``json.dumps(..., ensure_ascii=False)`` made safe to print: the
    characters :func:`line` escapes and JSON leaves raw (DEL, C1 controls, bidi
    controls, U+2028/U+2029) become ``\\uXXXX``, and so do the stand-ins ``os.fsdecode``
    makes of a name's bytes that are not UTF-8 (lone surrogates, which no UTF-8 stream
    can encode: printed raw they were a traceback). They can only occur inside strings,
    where a JSON parser reads the escape back as the same character: no data changes."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def script_json(value: object) -> str:
    """JSON for a ``<script type="application/json">`` element, whose text is not
    entity-decoded: ``<``, ``>`` and ``&`` written as ``\\u003c`` and so on (as Django's
    ``json_script`` does), so no string in it can end the element or open a comment or
    another script; ``json.dumps`` keeps everything else ASCII."""
    import json

    dumped = json.dumps(value)
    return dumped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def human_size(n: int) -> str:
    """``256.0 MiB``: a byte count as dvault shows it."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


__all__ = [
    "block",
    "dot_string",
    "first_line",
    "html_text",
    "human_size",
    "json_text",
    "line",
    "markdown",
    "markdown_code",
    "message_lines",
    "path",
    "script_json",
]
