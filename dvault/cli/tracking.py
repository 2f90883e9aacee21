"""``dvault init``, ``add``, ``rm`` and ``status``: what the project tracks."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_invocation, with_repository
from dvault.cli.output import size
from dvault.cli.statusview import show_status
from dvault.cli.switch import warn_pin

if TYPE_CHECKING:
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    for command in (init, add, rm, status):
        app.command()(command)


@with_invocation()
def init(
    inv: Invocation,
    path: Annotated[Path, typer.Argument(help="Project directory.")] = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Create a repository (.dvault); inside a git work tree, at the git root.

    \b
    Examples:
      dvault init                 # here, or at the root of the git work tree
      dvault init my-project
    """
    from dvault.repo import Repo  # deferred: repo pulls in blake3 and the store

    repo = Repo.init(inv.cwd() / path)
    if as_json:
        inv.out.json({"root": str(repo.root), "repository": str(repo.dir)})
        return
    inv.out.message(f"Initialized empty dvault repository in {repo.dir}")


@with_repository()
def add(
    inv: Invocation,
    repo: Repo,
    paths: Annotated[list[str], typer.Argument(help="Files or folders to track.")],
    kind: Annotated[
        str | None,
        typer.Option(help="dataset, labels, checkpoint, generator, pipeline, features, other."),
    ] = None,
    replace_roots: Annotated[
        bool,
        typer.Option(
            "--replace-roots",
            help="Let a folder replace the tracked roots inside it even when their kinds "
            "differ from its own (those kinds are lost).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Track paths and stage their current content (new, modified and deleted files).

    \b
    Examples:
      dvault add data/images data/labels --kind dataset
      dvault add checkpoints/model.pt     # kind guessed: checkpoint
      dvault add data --replace-roots     # one root data, over data/images and data/labels
      dvault add data --json
    """
    warn_pin(inv, repo)
    from dvault.ops.tracking import erased_again  # deferred: start-up

    report = repo.add([inv.cwd() / p for p in paths], kind=kind, replace_roots=replace_roots)
    for line in erased_again(repo, [inv.cwd() / p for p in paths]):
        inv.out.tell(f"warning: {line}")
    inv.out.note(f"read {size(report.bytes_read)}, stored {size(report.bytes_stored)}")
    if as_json:
        inv.out.json(dataclasses.asdict(report))
        return
    inv.out.message(
        f"staged {report.added} new, {report.modified} modified, {report.deleted} deleted "
        f"({report.unchanged} unchanged); stored {size(report.bytes_stored)}"
    )


@with_repository()
def rm(
    inv: Invocation,
    repo: Repo,
    paths: Annotated[list[str], typer.Argument(help="Tracked paths.")],
    cached: Annotated[bool, typer.Option(help="Keep the files in the workspace.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Stop tracking paths (and delete them from the workspace unless --cached).

    \b
    Examples:
      dvault rm --cached data/scratch     # keep the files, stop versioning them
      dvault rm data/old-labels
    """
    removed = repo.rm([inv.cwd() / p for p in paths], cached=cached)
    names = sorted(os.fsdecode(p) for p in removed)
    for name in names:
        inv.out.note(f"untracked {name}")
    if as_json:
        inv.out.json({"removed": names, "cached": cached})
        return
    inv.out.message(f"untracked {len(removed)} path(s)")


@with_repository()
def status(
    inv: Invocation,
    repo: Repo,
    as_json: JsonOpt = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when anything is uncommitted.")
    ] = False,
    untracked_files: Annotated[
        bool,
        typer.Option(
            "--untracked-files",
            "-u",
            help="List every new file (default: a folder with only new files is one line).",
        ),
    ] = False,
) -> None:
    """Show staged changes, unstaged changes and new files under tracked roots.

    \b
    Examples:
      dvault status
      dvault status -u                    # every new file, not one line per new folder
      dvault status --json --exit-code    # for scripts: exit 1 when not clean
    """
    code = show_status(inv, repo, as_json, exit_code, untracked_files)
    if code:
        raise typer.Exit(code)
