"""The ``dvault`` command line: a thin typer layer over :class:`dvault.repo.Repo`.

The top floor: it may import any module of dvault, and nothing imports it. One module
per noun or group of verbs, each with its commands' options and bodies together (as
borg's ``archiver/<verb>_cmd.py``): a body parses, calls one operation, and renders.

* :mod:`~dvault.cli.output` — :class:`~dvault.cli.output.Output`, made per run: data on
  stdout, messages (quiet-able), details (verbose), errors on stderr, and the one place
  untrusted text is escaped;
* :mod:`~dvault.cli.common` — the :class:`~dvault.cli.common.Invocation` of one run and
  the decorators that hand a command its invocation and its open repository;
* :mod:`~dvault.cli.runner` — argv to exit code: errors as one line, paths after ``--``;
* the command modules, one per noun or group of verbs (:data:`COMMANDS` maps every
  command to its module): ``tracking`` (init, add, rm, status), ``commits`` (commit, log),
  ``changes`` (diff, show), ``switch`` (checkout), ``stash`` (stash ...), ``merge``,
  ``undo`` (revert, reset),
  ``branches`` (branch, tag), ``maintenance`` (repair, gc, redact), ``remotes`` (remote
  ...), ``sync`` (push, fetch, pull, clone), ``prune``, ``verify``, ``forget``, ``runs``
  (run, rerun), ``reports``
  (lineage, review), ``datasheets`` (datasheet ..., stats), ``keys`` (key ...), ``hooks``
  (hooks ..., hook), ``demo``, ``completion``.

A new command is a function in its module, decorated with
:func:`~dvault.cli.common.with_repository` (or ``with_invocation`` when it opens no
repository), added to the module's ``register`` and to :data:`COMMANDS`.

A run imports only the module of the command it runs (:data:`COMMANDS` says which), and
the heavy parts (LMDB, zstd, dulwich) inside the command, so ``status``, ``--help`` and a
tab completion start fast; ``dvault.cli.app``, the whole command line, is built when
first asked for. docs/cli.md is the contract.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import QUIET_HELP, VERBOSE_HELP, DvaultGroup, current, plain_help, set_level
from dvault.cli.runner import command_name, run

if TYPE_CHECKING:
    import click

COMMANDS: dict[str, str] = {
    "init": "tracking",
    "add": "tracking",
    "rm": "tracking",
    "status": "tracking",
    "commit": "commits",
    "log": "commits",
    "diff": "changes",
    "show": "changes",
    "checkout": "switch",
    "stash": "stash",
    "merge": "merge",
    "revert": "undo",
    "reset": "undo",
    "branch": "branches",
    "tag": "branches",
    "repair": "maintenance",
    "gc": "maintenance",
    "redact": "maintenance",
    "remote": "remotes",
    "push": "sync",
    "fetch": "sync",
    "pull": "sync",
    "clone": "sync",
    "prune": "prune",
    "verify": "verify",
    "forget": "forget",
    "run": "runs",
    "rerun": "runs",
    "lineage": "reports",
    "review": "reports",
    "stats": "datasheets",
    "datasheet": "datasheets",
    "key": "keys",
    "hooks": "hooks",
    "hook": "hooks",
    "demo": "demo",
    "completion": "completion",
}
"""Each command and command group, by the module of ``dvault.cli`` that defines it, in
the order ``dvault --help`` lists them (commands first, then the groups). A new command
goes here and in its module's ``register``; :func:`build` refuses a table that disagrees
with what the modules register."""

app: typer.Typer
"""The whole command line (every command), built on first use by :func:`__getattr__`; a
test harness may replace it with the click command built from it."""


class ColorMode(StrEnum):
    auto = "auto"
    always = "always"
    never = "never"


def _print_version(asked: bool) -> None:
    """``dvault --version``: ``dvault X.Y.Z``, from the installed package's metadata."""
    if not asked:
        return
    from importlib.metadata import version  # deferred: only --version needs the metadata

    current().out.data(f"dvault {version('dvault')}")
    raise typer.Exit()


def _main(
    chdir: Annotated[
        Path | None, typer.Option("-C", help="Run as if started in this directory.")
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help=QUIET_HELP,
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help=VERBOSE_HELP),
    ] = False,
    color: Annotated[
        ColorMode,
        typer.Option(
            "--color",
            help="Colour: auto (default: only on a terminal, and not with NO_COLOR set), "
            "always or never.",
            case_sensitive=False,
            show_default=False,
        ),
    ] = ColorMode.auto,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print dvault's version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    """The global options, which complete this run's invocation."""
    inv = current()
    inv.chdir = chdir
    set_level(inv, quiet=quiet, verbose=verbose)
    inv.out.color_mode = color.value


def build(word: str | None = None) -> typer.Typer:
    """The command line with every command, or with only the module that defines the
    command or group ``word`` when :data:`COMMANDS` names it (what one run needs)."""
    built = typer.Typer(
        name="dvault",
        help="Version control and append-only backups for machine-learning data.\n\n"
        "Global options go before the command (-q and -v also after it); every command has "
        "--help with examples, and commands that print data take --json.\n\n"
        "\b\nExamples:\n"
        "  dvault init && dvault add data/ && dvault commit -m 'first dataset'\n"
        "  dvault -C ~/proj status --json\n"
        "  dvault -q push origin main          # only errors\n"
        "  dvault -v checkout v1               # timings and details on stderr\n"
        "  dvault commit -q -a -m 'relabel'    # -q and -v after the command work too\n"
        "  dvault --version\n"
        "  dvault --install-completion         # tab completion for your shell",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        cls=DvaultGroup,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    built.callback()(_main)
    modules = [COMMANDS[word]] if word in COMMANDS else dict.fromkeys(COMMANDS.values())
    for name in modules:
        commands, groups = len(built.registered_commands), len(built.registered_groups)
        importlib.import_module(f"dvault.cli.{name}").register(built)
        words = {command_name(info) for info in built.registered_commands[commands:]}
        words |= {info.name for info in built.registered_groups[groups:] if info.name}
        expected = {w for w, module in COMMANDS.items() if module == name}
        if words != expected:
            raise AssertionError(
                f"dvault.cli.COMMANDS says dvault.cli.{name} defines {sorted(expected)}; "
                f"it defines {sorted(words)}"
            )
    plain_help(built)
    return built


def __getattr__(name: str) -> typer.Typer:
    """``dvault.cli.app``, the whole command line, built when first asked for."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()["app"] = whole = build()
    return whole


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``dvault`` console script."""
    run(_app_for, argv)


def _app_for(word: str | None) -> typer.Typer | click.Command:
    """What a run runs: ``dvault.cli.app`` once it exists (a test harness may have put its
    own click command there), else a command line with only the module ``word`` needs."""
    whole: typer.Typer | click.Command | None = globals().get("app")
    return whole if whole is not None else build(word)
