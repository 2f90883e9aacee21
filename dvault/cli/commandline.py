"""The whole command line: the typer app with every command (:func:`build`), the global
options, and :data:`COMMANDS`, which says which module defines each command.

``dvault.cli`` (the package) imports this only when a run needs typer: ``dvault status``
is answered before (dvault/cli/fastpath.py), and ``dvault.cli.app``, ``build`` and
``COMMANDS`` are read from here on first use.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from dvault.cli.common import QUIET_HELP, VERBOSE_HELP, DvaultGroup, current, plain_help, set_level
from dvault.cli.runner import command_name

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
