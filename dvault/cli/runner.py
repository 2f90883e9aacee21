"""One run of the command line, from argv to exit code.

Every :class:`~dvault.errors.DvaultError` and click usage error becomes one line on
stderr (a JSON object with ``--json``) and its exit code (0 ok, 1 difference or failed
check, 2 bad input, 3 repository error); tracebacks are for bugs only. Paths after ``--``
are taken out of argv first (click cannot tell REV from PATH otherwise), and typer is
made to build only the command being run, which keeps ``status`` and ``--help`` fast.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NoReturn

import click
import typer
from click.exceptions import Abort, ClickException, NoArgsIsHelpError
from click.exceptions import UsageError as ClickUsageError

from dvault.cli.invocation import Invocation, dvault_warnings, fail
from dvault.cli.output import Output

if TYPE_CHECKING:
    from typer.models import CommandInfo

_GLOBAL_WITH_VALUE = ("-C", "--color")
_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def run(
    app_for: Callable[[str | None], typer.Typer | click.Command], argv: list[str] | None
) -> NoReturn:
    """Run ``argv`` (default: the process's arguments) and exit with its code.

    ``app_for`` gives the app for the command word on the command line: the typer app, or
    the click command built from it once (the test harness reuses one to save typer's
    rebuilding it on every run).
    """
    started = time.perf_counter()
    args, paths = split_argv(list(sys.argv[1:] if argv is None else argv))
    inv = Invocation(Output(json_mode="--json" in args), paths)
    word = _command_word(args)
    try:
        app = app_for(word)
        with _only_command(app, word), dvault_warnings(inv.out):
            code = app(args=args, prog_name="dvault", standalone_mode=False, obj=inv)
    except NoArgsIsHelpError as exc:
        exc.show()  # bare `dvault` or `dvault remote`: the help, as a usage error
        sys.exit(exc.exit_code)
    except ClickUsageError as exc:
        inv.out.fail(_click_message(exc), 2, "UsageError")
    except ClickException as exc:
        inv.out.fail(_click_message(exc), exc.exit_code, "UsageError")
    except Abort:
        inv.out.fail("interrupted", 130, "Interrupted")
    except (Exception, KeyboardInterrupt) as exc:
        fail(exc, inv)  # one line and its exit code (cli/invocation.py); a bug re-raised
    code = code if isinstance(code, int) else 0
    if code == 130:  # typer answers a KeyboardInterrupt no command caught with exit 130, silently
        inv.out.fail("interrupted", 130, "Interrupted")
    inv.out.note(f"done in {time.perf_counter() - started:.3f} s (exit {code})")
    sys.exit(code)


def split_argv(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """argv without the paths after ``--``, and those paths (None when there is no
    ``--``)."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, None


def _command_word(args: list[str]) -> str | None:
    """The command named on the command line, after the global options (None when there is
    none, or an option this cheap scan does not know)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _GLOBAL_WITH_VALUE:
            i += 2
        elif arg in _GLOBAL_FLAGS or arg.startswith(("--color=", "-C")):
            i += 1
        elif arg.startswith("-"):
            return None
        else:
            return arg
    return None


@contextlib.contextmanager
def _only_command(app: typer.Typer | click.Command, word: str | None) -> Iterator[None]:
    """Let typer build just the command being run. typer turns every command's signature
    into click parameters at each start (about 20 ms for all of dvault's); one command needs
    a tenth of that. Top-level help, completion and unknown words get the whole app (as
    does an app already built into a click command, as the test harness runs it)."""
    if not isinstance(app, typer.Typer):
        yield
        return
    names = {command_name(c) for c in app.registered_commands} | {
        g.name for g in app.registered_groups
    }
    if word is None or word not in names:
        yield
        return
    saved = app.registered_commands, app.registered_groups
    app.registered_commands = [c for c in saved[0] if command_name(c) == word]
    app.registered_groups = [g for g in saved[1] if g.name == word]
    try:
        yield
    finally:
        app.registered_commands, app.registered_groups = saved


def command_name(info: CommandInfo) -> str:
    """A registered command's name, as typer derives it from the function."""
    if info.name:
        return info.name
    assert info.callback is not None
    return info.callback.__name__.lower().replace("_", "-")


def _click_message(exc: click.ClickException) -> str:
    """click's usage error as one dvault line: lower-case, no trailing period, with where
    to get help."""
    text = " ".join(exc.format_message().split()).rstrip(".")
    mistyped = getattr(exc, "command_name", None) or getattr(exc, "option_name", None)
    if isinstance(mistyped, str):  # one suggestion, worded once (typer and click both add one)
        kind = "command" if hasattr(exc, "command_name") else "option"
        close = getattr(exc, "possibilities", None)
        ctx = getattr(exc, "ctx", None)
        if kind == "command" and isinstance(ctx, click.Context):
            group = ctx.command
            if isinstance(group, click.Group):  # a prefix names what was meant ('sta': status)
                prefixed = [c for c in group.list_commands(ctx) if c.startswith(mistyped)]
                close = sorted({*prefixed[:4], *(close or [])})
        text = f"No such {kind} {mistyped!r}{_did_you_mean(close)}"
    if text[:1].isupper() and text[1:2].islower():
        text = text[0].lower() + text[1:]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        text += f" (see '{ctx.command_path} --help')"
    return text


def _did_you_mean(possibilities: list[str] | None) -> str:
    """``. Did you mean 'status'?`` or ``. Did you mean 'status' or 'tag'?`` (empty when
    there is nothing close)."""
    if not possibilities:
        return ""
    names = [repr(p) for p in sorted(possibilities)]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f". Did you mean {listed}?"
