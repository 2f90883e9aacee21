"""The ``dvault`` command line: a thin typer layer over :class:`dvault.repo.Repo`.

The top floor: it may import any module of dvault, and nothing imports it. One module
per noun or group of verbs, each with its commands' options and bodies together (as
borg's ``archiver/<verb>_cmd.py``): a body parses, calls one operation, and renders.

* :mod:`~dvault.cli.output` — :class:`~dvault.cli.output.Output`, made per run: data on
  stdout, messages (quiet-able), details (verbose), errors on stderr, and the one place
  untrusted text is escaped;
* :mod:`~dvault.cli.invocation` — the :class:`~dvault.cli.invocation.Invocation` of one
  run, dvault's warnings, and an exception as one error line and its exit code;
* :mod:`~dvault.cli.common` — the decorators that hand a command its invocation and its
  open repository, and the options many commands take;
* :mod:`~dvault.cli.runner` — argv to exit code: errors as one line, paths after ``--``;
* :mod:`~dvault.cli.commandline` — the typer app with every command and the global
  options; :data:`~dvault.cli.commandline.COMMANDS` maps every command to its module;
* :mod:`~dvault.cli.fastpath` — ``dvault status`` answered before typer and click load;
* the command modules, one per noun or group of verbs: ``tracking`` (init, add, rm,
  status; its rendering in ``statusview``), ``commits`` (commit, log),
  ``changes`` (diff, show), ``switch`` (checkout), ``stash`` (stash ...), ``merge``,
  ``undo`` (revert, reset),
  ``branches`` (branch, tag), ``maintenance`` (repair, gc, redact), ``remotes`` (remote
  ...), ``sync`` (push, fetch, pull, clone), ``prune``, ``verify``, ``forget``, ``runs``
  (run, rerun), ``reports``
  (lineage, review), ``datasheets`` (datasheet ..., stats), ``keys`` (key ...), ``hooks``
  (hooks ..., hook), ``demo``, ``completion``.

A new command is a function in its module, decorated with
:func:`~dvault.cli.common.with_repository` (or ``with_invocation`` when it opens no
repository), added to the module's ``register`` and to ``COMMANDS``.

A run imports only what it needs: ``dvault status`` (every git hook runs it) is answered
by the fast path without typer or click; any other run imports the module of the command
it runs (``COMMANDS`` says which), and the heavy parts (LMDB, zstd, dulwich) inside the
command, so ``--help`` and a tab completion start fast too. ``dvault.cli.app``, the whole
command line, is built when first asked for. docs/cli.md is the contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dvault.cli.fastpath import answer

if TYPE_CHECKING:
    import click
    import typer

    from dvault.cli.commandline import COMMANDS as COMMANDS
    from dvault.cli.commandline import build as build

    app: typer.Typer
    """The whole command line (every command), built on first use by :func:`__getattr__`;
    a test harness may replace it with the click command built from it."""


def __getattr__(name: str) -> object:
    """``dvault.cli.app``, the whole command line, built when first asked for; ``build``
    and ``COMMANDS`` from :mod:`dvault.cli.commandline`."""
    if name not in ("app", "build", "COMMANDS"):  # a submodule not imported yet, say
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from dvault.cli import commandline  # deferred: typer and click, which status never needs

    if name == "app":
        globals()["app"] = whole = commandline.build()
        return whole
    return getattr(commandline, name)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``dvault`` console script: ``status`` through the fast path
    when it can answer it, anything else through the full command line."""
    answer(argv)  # returns only when it does not handle these arguments
    from dvault.cli.runner import run  # deferred: typer and click, which status never needs

    run(_app_for, argv)


def _app_for(word: str | None) -> typer.Typer | click.Command:
    """What a run runs: ``dvault.cli.app`` once it exists (a test harness may have put its
    own click command there), else a command line with only the module ``word`` needs."""
    whole: typer.Typer | click.Command | None = globals().get("app")
    if whole is not None:
        return whole
    from dvault.cli.commandline import build  # deferred: typer and click

    return build(word)
