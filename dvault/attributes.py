"""``.dvaultattributes``: a per-path merge strategy, as git's ``merge=`` attribute.

A committed text file at the project root, one rule a line::

    # PATTERN        STRATEGY
    *.log            union
    data/labels/*    text
    models/**        ours
    *.json           binary

Strategies decide what :func:`dvault.ops.merge.merge` does with a file both sides
changed: ``text`` merges it line by line whatever its name, ``binary`` never does (the
change on both sides stays a conflict), ``ours`` and ``theirs`` take that side's
version, ``union`` merges line by line and keeps both sides' lines where they collide
(append-only logs). Without a matching rule the name decides (``trees/textmerge.py``).

Patterns are git's: a pattern without ``/`` matches the file name at any depth; one with
``/`` matches the path from the project root (a leading ``/`` is dropped); ``*`` and
``?`` stay within one directory, ``**`` crosses directories, a trailing ``/`` means
everything below. The last matching rule wins.

The file is committed, so anyone who can commit to the project writes it: it is read
as hostile input — bounded in size and rules, each line validated, a pattern's
wildcards bounded (the match is a regular expression), a non-regular file refused.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from dvault.errors import UsageError

ATTRIBUTES_FILE = ".dvaultattributes"
MAX_SIZE = 64 << 10
"""Largest ``.dvaultattributes`` read (bytes); a larger one is refused."""
MAX_RULES = 1000
MAX_PATTERN = 1024
MAX_WILDCARDS = 8
"""``*`` and ``?`` in one pattern: matching cost grows with their number."""

TEXT, BINARY, OURS, THEIRS, UNION = "text", "binary", "ours", "theirs", "union"
STRATEGIES = (TEXT, BINARY, OURS, THEIRS, UNION)


@dataclass(frozen=True, slots=True)
class Rule:
    """One line: a pattern, its compiled form, and the strategy it names."""

    pattern: str
    strategy: str
    regex: re.Pattern[bytes]


@dataclass(frozen=True, slots=True)
class Attributes:
    """The rules of one ``.dvaultattributes``, in file order."""

    rules: tuple[Rule, ...] = ()

    def strategy(self, path: bytes) -> str | None:
        """The strategy for ``path`` (relative to the project root, ``/``-separated):
        that of the last matching rule, or None."""
        for rule in reversed(self.rules):
            if rule.regex.fullmatch(path):
                return rule.strategy
        return None


def _compile(pattern: str) -> re.Pattern[bytes]:
    anchored = "/" in pattern.rstrip("/")
    body = pattern.lstrip("/")
    if body.endswith("/"):
        body += "**"
    out: list[str] = [] if anchored else ["(?:.*/)?"]
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    return re.compile("".join(out).encode(), re.DOTALL)


def _rule(line: str, where: str) -> Rule:
    fields = line.split()
    if len(fields) != 2:
        raise UsageError(f"{where}: expected PATTERN STRATEGY, got {len(fields)} field(s)")
    pattern, strategy = fields
    if strategy not in STRATEGIES:
        raise UsageError(
            f"{where}: unknown strategy {strategy[:40]!r} (one of {', '.join(STRATEGIES)})"
        )
    if len(pattern) > MAX_PATTERN:
        raise UsageError(f"{where}: pattern longer than {MAX_PATTERN} characters")
    if len(re.findall(r"\*+|\?", pattern)) > MAX_WILDCARDS:
        raise UsageError(f"{where}: more than {MAX_WILDCARDS} wildcards in a pattern")
    if pattern.strip("/") == "" or pattern.startswith("!"):
        raise UsageError(f"{where}: pattern {pattern[:40]!r} matches nothing usable")
    return Rule(pattern, strategy, _compile(pattern))


def parse(data: bytes, name: str = ATTRIBUTES_FILE) -> Attributes:
    """The rules of a ``.dvaultattributes`` file's bytes; a bad line is a
    :class:`UsageError` naming the file and line."""
    if len(data) > MAX_SIZE:
        raise UsageError(f"{name} is larger than {MAX_SIZE} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{name} is not UTF-8 text") from None
    rules: list[Rule] = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{name} line {number}"
        if any(ord(c) < 32 and c != "\t" for c in line):
            raise UsageError(f"{where}: control character in the line")
        rules.append(_rule(line, where))
        if len(rules) > MAX_RULES:
            raise UsageError(f"{name} has more than {MAX_RULES} rules")
    return Attributes(tuple(rules))


def load(root: Path) -> Attributes:
    """The project's ``.dvaultattributes`` (none: no rules). A symbolic link or other
    non-regular file is refused, not followed."""
    path = root / ATTRIBUTES_FILE
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except FileNotFoundError:
        return Attributes()
    except OSError:
        raise UsageError(f"{ATTRIBUTES_FILE} cannot be read (a symbolic link?)") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UsageError(f"{ATTRIBUTES_FILE} is not a regular file")
        data = f.read(MAX_SIZE + 1)
    return parse(data)


__all__ = [
    "ATTRIBUTES_FILE",
    "BINARY",
    "MAX_SIZE",
    "OURS",
    "STRATEGIES",
    "TEXT",
    "THEIRS",
    "UNION",
    "Attributes",
    "Rule",
    "load",
    "parse",
]
