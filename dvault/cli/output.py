"""Everything the command line prints goes through one :class:`Output`, made per run.

stdout carries data (one JSON document with ``--json``); messages obey ``-q``, details
``-v``, colour ``--color``/``NO_COLOR``; errors are one line on stderr. The Output is also
the one place untrusted text is made safe to print (dvault/textsafe.py): anything not
marked as dvault's own (:class:`Own`) has its control characters, ESC and bidi controls
shown as visible escapes, newlines included, so a command cannot forget to escape a
commit message, a path or a remote's name. Only a rendered report (:meth:`Output.report`)
keeps newlines, and its renderer escapes each field.

It writes to the process's stdout and stderr as they are when it writes, so a caller's
``redirect_stdout`` or a test's capture sees what a terminal would.

It does not import typer or click (:func:`echo` and :func:`style` write as click's do),
so the status fast path (dvault/cli/fastpath.py) prints through it before either loads.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, NoReturn, TextIO

from dvault import textsafe  # small (re only)

if TYPE_CHECKING:
    from dvault.repository import Progress

size = textsafe.human_size  # byte counts, as every command shows them

_COLORS = dict(black=30, red=31, green=32, yellow=33, blue=34, magenta=35, cyan=36, white=37)
_ANSI = re.compile(r"\033\[[0-?]*[ -/]*[@-~]")  # the codes click.echo strips


def style(text: str, fg: str) -> str:
    """``text`` in the foreground colour ``fg``: the bytes ``click.style(text, fg=fg)``
    makes (the colour's code, the text, a reset)."""
    code = _COLORS.get(fg)
    if code is None:
        import click  # deferred: click is slow to import; dvault's own colours need none

        return click.style(text, fg=fg)
    return f"\033[{code}m{text}\033[0m"


def echo(text: str, nl: bool = True, err: bool = False, color: bool | None = None) -> None:
    """Write ``text`` as ``click.echo`` does: to stdout (stderr with ``err``), a newline
    after it, ANSI codes stripped unless ``color`` (None: when the stream is a terminal),
    flushed. A stream click would first repair (an ASCII encoding, no error handler, not
    a plain text file: a test's or a notebook's) goes through click itself, so the bytes
    are the same either way."""
    stream = sys.stderr if err else sys.stdout
    if stream is None:  # no stream to write to (pythonw), as click
        return
    if not _plain(stream):
        import click  # deferred: click is slow to import; a plain stream needs none

        click.echo(text, nl=nl, err=err, color=color)
        return
    out = text + "\n" if nl else text
    if out:
        strip = not _isatty(stream) if color is None else not color
        stream.write(_ANSI.sub("", out) if strip else out)
    stream.flush()


def _plain(stream: TextIO) -> bool:
    """A text file click writes to as it is: a ``TextIOWrapper`` with an error handler
    and an encoding other than ASCII (as click's ``_force_correct_text_stream`` decides)."""
    if not isinstance(stream, io.TextIOWrapper) or stream.errors is None:
        return False
    encoding = stream.encoding
    if not encoding:
        return False
    try:
        return codecs.lookup(encoding).name != "ascii"
    except LookupError:
        return False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except Exception:
        return False


class Own(str):
    """Text dvault wrote itself (its colour codes): printed as is. A plain ``str`` built
    from it (an f-string, ``+``) is untrusted again, so trust cannot leak into a value."""


def title(message: str) -> str:
    """The first line of a commit or tag message, escaped."""
    return textsafe.first_line(message)


def message_lines(message: str) -> list[str]:
    """A commit or tag message as escaped lines, for the caller to indent (so no line of a
    message can pass for a header such as ``Signature:``)."""
    return textsafe.message_lines(message)


class Output:
    """How this run prints: ``--json``, ``--quiet``, ``--verbose`` and ``--color``.

    Made by the entry point for each run (``json_mode`` is known from the arguments before
    they are parsed, so even a parse error comes out as JSON) and completed by the global
    options' callback; never a module global, so two runs in one process share nothing.
    (A plain class, not a dataclass: importing dataclasses would slow every start.)
    """

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = False
        self.verbose = False
        self.color_mode = "auto"  # --color: auto, always or never

    # -- colour -------------------------------------------------------------------------

    def colored(self, stream: TextIO) -> bool:
        """Colour for ``stream``: --color always/never, else only on a terminal, and never
        with NO_COLOR set (https://no-color.org) or TERM=dumb."""
        if self.color_mode != "auto":
            return self.color_mode == "always"
        if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
            return False
        try:
            return bool(stream.isatty())
        except (AttributeError, ValueError):
            return False

    def color(self, text: str, color: str) -> str:
        """``text`` (escaped) in a colour: pass it to :meth:`data` as a part of its own."""
        safe = textsafe.line(text)
        return Own(style(safe, fg=color)) if self.colored(sys.stdout) else safe

    # -- stdout ---------------------------------------------------------------------------

    def data(self, *parts: str, nl: bool = True) -> None:
        """Data the command was asked for, one line made of ``parts``, each escaped unless
        it is dvault's own: always printed, whatever --quiet says."""
        echo(_safe(parts), nl=nl, color=self.colored(sys.stdout))

    def report(self, text: str, nl: bool = True) -> None:
        """A rendered multi-line report (lineage, review, a completion script): newlines
        are kept, every other control character escaped; its renderer escaped each
        field."""
        echo(textsafe.block(text), nl=nl, color=self.colored(sys.stdout))

    def json(self, value: object) -> None:
        """One JSON document: faithful data, with the characters a terminal would act on
        written as \\uXXXX escapes (textsafe.json_text)."""
        echo(textsafe.json_text(json.dumps(value, indent=2, ensure_ascii=False)))

    def content(self, pieces: Iterable[bytes]) -> None:
        """A file's bytes, asked for by name (``show REV:FILE``): written as they are, the
        one output that is not text."""
        out = sys.stdout.buffer
        for piece in pieces:
            out.write(piece)
        out.flush()

    def message(self, *parts: str) -> None:
        """A message (confirmation, summary): silenced by --quiet and by --json."""
        if not self.quiet and not self.json_mode:
            self.data(*parts)

    # -- stderr ---------------------------------------------------------------------------

    def tell(self, text: str) -> None:
        """One line for people on stderr, ``dvault: `` first, escaped."""
        echo(f"dvault: {textsafe.line(text)}", err=True)

    def note(self, text: str) -> None:
        """A detail for --verbose, on stderr so it never mixes with data."""
        if self.verbose:
            self.tell(text)

    def problem(self, text: str) -> None:
        """A finding of a failed check: stderr, always (quiet keeps errors)."""
        self.tell(text)

    def confirm(self, question: str) -> bool:
        """Ask on the terminal (stderr), default no; the caller checks there is one."""
        import click  # deferred: click is slow to import; only a question needs it

        return click.confirm(question, default=False, err=True)

    def fail(self, message: str, code: int, kind: str) -> NoReturn:
        """Report an error as one line on stderr (a JSON object with --json) and exit."""
        message = " ".join(message.split())
        if self.json_mode:
            error = {"error": {"message": message, "exit_code": code, "type": kind}}
            echo(textsafe.json_text(json.dumps(error, ensure_ascii=False)), err=True)
        else:
            color = self.colored(sys.stderr)
            label = style("error:", fg="red") if color else "error:"
            echo(f"dvault: {label} {textsafe.line(message)}", err=True, color=color)
        sys.exit(code)

    # -- progress and child processes -----------------------------------------------------

    @contextlib.contextmanager
    def progress(self, desc: str, total: int) -> Iterator[Progress]:
        """A tqdm bar on stderr (bytes, rate, ETA) when it is a terminal, the work is big
        enough to watch, and neither --quiet nor --json asked for silence (the repository's
        progress sink). ``DVAULT_PROGRESS=1`` shows it whatever the terminal and the size
        (scripts that log stderr; tests)."""
        forced = os.environ.get("DVAULT_PROGRESS") == "1"
        watch = forced or (sys.stderr.isatty() and total >= (64 << 20))
        if self.quiet or self.json_mode or not watch:
            yield lambda _n: None
            return
        from tqdm import tqdm  # deferred: tqdm is slow to import and rarely shown

        with tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False) as bar:
            yield bar.update

    @contextlib.contextmanager
    def children_to_stderr(self, when: bool = True) -> Iterator[None]:
        """Send what a child command prints to stderr (``when`` it is asked for: with
        --json), so stdout stays one document."""
        if not when:
            yield
            return
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _safe(parts: tuple[str, ...]) -> str:
    """``parts`` joined, each escaped unless it is dvault's own (:class:`Own`)."""
    if not any(isinstance(p, Own) for p in parts):
        return textsafe.line("".join(parts))
    return "".join(p if isinstance(p, Own) else textsafe.line(p) for p in parts)
