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
* the commands: :mod:`~dvault.cli.tracking` (init, add, rm, status),
  :mod:`~dvault.cli.commits` (commit, log), :mod:`~dvault.cli.changes` (diff, show),
  :mod:`~dvault.cli.switch` (checkout), :mod:`~dvault.cli.branches` (branch, tag),
  :mod:`~dvault.cli.maintenance` (repair, gc), :mod:`~dvault.cli.remotes` (remote ...),
  :mod:`~dvault.cli.sync` (push, fetch, pull, clone), :mod:`~dvault.cli.verify`,
  :mod:`~dvault.cli.runs` (run, rerun), :mod:`~dvault.cli.reports` (lineage, review),
  :mod:`~dvault.cli.keys` (key ...), :mod:`~dvault.cli.hooks` (hooks ..., hook),
  :mod:`~dvault.cli.demo`, :mod:`~dvault.cli.completion`.

Imports of the heavy parts (LMDB, zstd, dulwich) happen inside commands, so ``--help``,
``status`` and a tab completion start fast. docs/cli.md is the contract.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from dvault.cli import (
    branches,
    changes,
    commits,
    completion,
    demo,
    hooks,
    keys,
    maintenance,
    remotes,
    reports,
    runs,
    switch,
    sync,
    tracking,
    verify,
)
from dvault.cli.common import current
from dvault.cli.runner import run
from dvault.errors import UsageError

app = typer.Typer(
    name="dvault",
    help="Version control and append-only backups for machine-learning data.\n\n"
    "Global options go before the command; every command has --help with examples, and "
    "commands that print data take --json.\n\n"
    "\b\nExamples:\n"
    "  dvault init && dvault add data/ && dvault commit -m 'first dataset'\n"
    "  dvault -C ~/proj status --json\n"
    "  dvault -q push origin main          # only errors\n"
    "  dvault -v checkout v1               # timings and details on stderr\n"
    "  dvault --install-completion         # tab completion for your shell",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class ColorMode(StrEnum):
    auto = "auto"
    always = "always"
    never = "never"


@app.callback()
def _main(
    chdir: Annotated[
        Path | None, typer.Option("-C", help="Run as if started in this directory.")
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Only errors and the data asked for: no confirmations, summaries or "
            "progress bars.",
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Extra detail and timings on stderr."),
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
) -> None:
    if quiet and verbose:
        raise UsageError("--quiet and --verbose contradict each other; use one")
    inv = current()
    inv.chdir = chdir
    inv.out.quiet = quiet
    inv.out.verbose = verbose
    inv.out.color_mode = color.value


# In the order `dvault --help` lists them (commands first, then the groups).
for _module in (
    tracking,
    commits,
    changes,
    switch,
    branches,
    maintenance,
    remotes,
    sync,
    verify,
    runs,
    reports,
    keys,
    hooks,
    demo,
    completion,
):
    _module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``dvault`` console script."""
    run(app, argv)  # this module's app as it is now: a test harness may swap in its own
