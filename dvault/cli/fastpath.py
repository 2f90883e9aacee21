"""``dvault status`` and ``dvault hook`` answered before typer and click load.

``status`` runs in every git hook, and with nothing changed its work is a ~50 ms scan;
importing typer and click and building the command cost as much again. The installed
git hooks run ``dvault hook NAME ARGS...``. So the console script's entry point
(:func:`dvault.cli.main`) first asks :func:`answer`, which recognises exactly these
command lines::

    dvault [-C DIR] [-q|--quiet] [--color auto|always|never] status
           [--json] [--exit-code] [-u|--untracked-files] [-q|--quiet]
    dvault [-C DIR] [-q|--quiet] [--color auto|always|never] hook NAME [ARG...]

(each option at most once where it takes a value, in any order on its side of the
command word; a hook's name and arguments not starting with ``-``) and runs them through
the same code as the typer commands: the same
:class:`~dvault.cli.invocation.Invocation` and :class:`~dvault.cli.output.Output`
(which escapes every path), the same bodies (:func:`~dvault.cli.statusview.show_status`,
:func:`~dvault.cli.hookrun.run_hook`), the same error lines and exit codes
(:func:`~dvault.cli.invocation.fail`, and what typer itself does with an interrupt or a
closed pipe). Anything else -- ``--help``, ``-v``, a misspelt or abbreviated option,
``--``, a shell completion request, another command -- returns, and the full command
line runs as before. ``DVAULT_NO_FAST_PATH=1`` turns this off (tests compare both paths
byte for byte: tests/cli/test_cli_fastpath.py).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import TextIO, cast

from dvault.cli.hookrun import run_hook
from dvault.cli.invocation import Invocation, dvault_warnings, fail
from dvault.cli.output import Output, echo
from dvault.cli.statusview import show_status

OFF = "DVAULT_NO_FAST_PATH"
"""Set (non-empty) in the environment: every run takes the full command line."""
COMPLETION = "_DVAULT_COMPLETE"
"""click's shell completion request for the ``dvault`` program: the full command line's."""

_COLORS = ("auto", "always", "never")
_AFTER = {
    "--json": "json",
    "--exit-code": "exit_code",
    "-u": "every_file",
    "--untracked-files": "every_file",
    "-q": "quiet",
    "--quiet": "quiet",
}
"""The options ``status`` takes after its word, by the flag each sets."""


class StatusArgs:
    """A status command line the fast path answers. (A plain class: a NamedTuple or a
    dataclass costs a millisecond of start-up to create.)"""

    def __init__(
        self,
        chdir: Path | None,
        color: str,
        quiet: bool,
        json: bool,
        exit_code: bool,
        every_file: bool,
    ) -> None:
        self.chdir, self.color, self.quiet = chdir, color, quiet
        self.json, self.exit_code, self.every_file = json, exit_code, every_file


class HookArgs:
    """A ``dvault hook NAME ARGS...`` command line the fast path answers."""

    json = False

    def __init__(
        self, chdir: Path | None, color: str, quiet: bool, name: str, args: list[str]
    ) -> None:
        self.chdir, self.color, self.quiet = chdir, color, quiet
        self.name, self.args = name, args


def parse(args: list[str]) -> StatusArgs | HookArgs | None:
    """The status or hook command ``args`` spell, or None when they are anything else or
    anything this strict reading is unsure of (the full command line then parses them)."""
    chdir: str | None = None
    color: str | None = None
    quiet = False
    i = 0
    while i < len(args) and args[i] not in ("status", "hook"):
        arg, value = args[i], args[i + 1] if i + 1 < len(args) else None
        if arg in ("-q", "--quiet"):
            quiet, i = True, i + 1
        elif arg.startswith("--color="):
            color, i = (arg.removeprefix("--color=") if color is None else ""), i + 1
        elif arg in ("-C", "--color") and value is not None:
            if arg == "-C":
                chdir = value if chdir is None else ""  # given twice: click's to read
            else:
                color = value if color is None else ""
            i += 2
        else:
            return None
    if chdir is not None and (not chdir or chdir.startswith("-")):
        return None  # click reads such a value in its own ways: leave it to click
    if color is not None and color not in _COLORS:
        return None
    if i == len(args):
        return None  # no command word: the help
    where = Path(chdir) if chdir is not None else None
    if args[i] == "hook":
        rest = args[i + 1 :]
        if not rest or any(a.startswith("-") for a in rest):
            return None  # no name (a usage error), or what click would read as an option
        return HookArgs(where, color or "auto", quiet, rest[0], rest[1:])
    flags = {"json": False, "exit_code": False, "every_file": False, "quiet": quiet}
    for arg in args[i + 1 :]:
        name = _AFTER.get(arg)
        if name is None:
            return None
        flags[name] = True
    return StatusArgs(
        where,
        color or "auto",
        flags["quiet"],
        flags["json"],
        flags["exit_code"],
        flags["every_file"],
    )


def answer(argv: list[str] | None = None) -> None:
    """Run ``argv`` (default: the process's arguments) and exit, when it is a status or
    hook command line this path answers; else return at once, having done nothing."""
    args = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get(OFF) or COMPLETION in os.environ:
        return
    parsed = parse(args)
    if parsed is None:
        return
    inv = Invocation(Output(json_mode=parsed.json))
    inv.chdir = parsed.chdir
    inv.out.quiet = parsed.quiet
    inv.out.color_mode = parsed.color
    code = 0
    with dvault_warnings(inv.out):
        try:
            if isinstance(parsed, HookArgs):
                code = run_hook(inv, parsed.name, parsed.args)
            else:
                with inv.open() as repo:
                    code = show_status(inv, repo, parsed.json, parsed.exit_code, parsed.every_file)
        except EOFError:  # as typer: an empty line, then "interrupted"
            echo("", err=True)
            inv.out.fail("interrupted", 130, "Interrupted")
        except KeyboardInterrupt:
            inv.out.fail("interrupted", 130, "Interrupted")
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                fail(exc, inv)
            # as typer: a reader that went away ends the run with 1, and nothing more is
            # said about the pipe when Python flushes the streams on its way out
            sys.stdout = cast(TextIO, _Pacified(sys.stdout))
            sys.stderr = cast(TextIO, _Pacified(sys.stderr))
            sys.exit(1)
        except Exception as exc:
            fail(exc, inv)
    sys.exit(code)


class _Pacified:
    """A stream whose flush ignores a closed pipe (click's ``PacifyFlushWrapper``)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)
