"""``dvault hooks install|uninstall`` and the hidden ``dvault hook`` the installed git
hooks run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_invocation, with_repository
from dvault.cli.hookrun import run_hook

if TYPE_CHECKING:
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    hooks_app = typer.Typer(
        help="Git hooks that keep data and code in step.\n\n"
        "\b\nExamples:\n"
        "  dvault hooks install\n"
        "  dvault hooks uninstall",
        no_args_is_help=True,
    )
    app.add_typer(hooks_app, name="hooks")
    hooks_app.command("install")(hooks_install)
    hooks_app.command("uninstall")(hooks_uninstall)
    app.command(hidden=True)(hook)


def _show(inv: Invocation, lines: list[str], as_json: bool) -> None:
    """What install or uninstall did, one line per hook."""
    if as_json:
        rows = []
        for line in lines:
            hook_name, _, result = line.partition(": ")
            rows.append({"hook": hook_name, "result": result})
        inv.out.json(rows)
        return
    for line in lines:
        inv.out.message(line)


@with_repository()
def hooks_install(inv: Invocation, repo: Repo, as_json: JsonOpt = False) -> None:
    """Install post-checkout, post-merge, pre-commit and pre-push hooks (existing hooks are
    chained, never overwritten), and register the git merge driver for dvault.lock (in
    .git/config and .gitattributes) that merges the pinned data when git merges branches.

    \b
    Examples:
      dvault hooks install
      dvault hooks install --json
    """
    from dvault.ops import hooks  # deferred: ~20 ms of imports --help would pay

    _show(inv, hooks.install(repo), as_json)


@with_repository()
def hooks_uninstall(inv: Invocation, repo: Repo, as_json: JsonOpt = False) -> None:
    """Remove dvault's hooks and restore the ones they chained to, and unregister the
    merge driver (only what install added).

    \b
    Examples:
      dvault hooks uninstall
    """
    from dvault.ops import hooks  # deferred: ~20 ms of imports --help would pay

    _show(inv, hooks.uninstall(repo), as_json)


@with_invocation(takes_paths=True)
def hook(
    inv: Invocation,
    name: Annotated[str, typer.Argument(help="Which git hook is running.")],
    args: Annotated[list[str] | None, typer.Argument(help="The hook's arguments.")] = None,
) -> None:
    """Entry point of the installed git hooks (not for direct use).

    \b
    Examples:
      dvault hook post-checkout OLD NEW 1  # run by git
      dvault hook merge-driver %O %A %B %P # run by git merge for dvault.lock
    """
    code = run_hook(inv, name, args or [])
    if code:
        raise typer.Exit(code)
