"""``dvault init``, ``add``, ``rm`` and ``status``: what the project tracks."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_invocation, with_repository
from dvault.cli.output import size
from dvault.cli.switch import warn_pin

if TYPE_CHECKING:
    from dvault.repo import Repo
    from dvault.workspace.status import Status


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
    st = repo.status()
    pin = repo.pin_state()
    if as_json:
        inv.out.json({**st.to_json(), "pin": pin.to_json() if pin is not None else None})
    else:
        pin_line = pin.warning() if pin is not None else None
        _print_status(inv, repo, st, untracked_files, pin_line)
    if exit_code and not st.clean:
        raise typer.Exit(1)


def _print_status(
    inv: Invocation, repo: Repo, st: Status, every_file: bool, pin_line: str | None
) -> None:
    out = inv.out
    if st.branch:
        out.data(f"On branch {st.branch}")
    else:
        assert st.head is not None, "a detached HEAD names a commit"
        out.data(f"HEAD detached at {st.detached_at or st.head.hex()[:12]}")
    if st.head is None:
        out.data("No commits yet")
    if pin_line is not None:  # the workspace is not at the data the git commit pins
        out.data(out.color(pin_line, "yellow"))
    if st.merging is not None:
        out.data()
        out.data("Merging ", st.merging, " (dvault merge --continue to commit, --abort to undo)")
        if st.unmerged:
            out.data("Unmerged paths (dvault checkout --ours|--theirs -- PATH, or edit and add):")
            for p in st.unmerged:
                out.data(out.color(f"  {'unmerged:':10}{inv.shown(repo, p)}", "red"))
    if st.staged:
        out.data()
        out.data("Changes to be committed:")
        for c in st.staged:
            out.data(out.color(f"  {c.status + ':':10}{inv.shown(repo, c.path)}", "green"))
    if st.modified or st.deleted:
        out.data()
        out.data("Changes not staged for commit (dvault add PATH, or commit -a):")
        changes = [("modified", p) for p in st.modified] + [("deleted", p) for p in st.deleted]
        for label, p in sorted(changes, key=lambda x: x[1]):
            out.data(out.color(f"  {label + ':':10}{inv.shown(repo, p)}", "red"))
    if st.untracked:
        out.data()
        out.data("New files under tracked roots (dvault add PATH, or commit -a):")
        for p, count in _new_lines(st, every_file):
            files = "" if not count else f" ({count} new file{'s' if count > 1 else ''})"
            out.data(out.color(f"  {inv.shown(repo, p)}{'/' if count else ''}{files}", "red"))
    if st.lost_found:
        out.data()
        out.data(lost_found_line(st))
    if st.clean:
        out.data(f"nothing to commit, {'workspace clean' if pin_line is None else 'but see above'}")


def _new_lines(st: Status, every_file: bool) -> list[tuple[bytes, int]]:
    """The new files to list: (path, 0) each, or for a folder with nothing tracked in it
    (st.new_dirs), (folder, its count of new files) once, where its first file was."""
    lines: list[tuple[bytes, int]] = []
    shown: set[bytes] = set()
    for path in st.untracked:
        folder = None if every_file else _folder_of(path, st.new_dirs)
        if folder is None:
            lines.append((path, 0))
        elif folder not in shown:
            shown.add(folder)
            lines.append((folder, st.new_dirs[folder]))
    return lines


def _folder_of(path: bytes, folders: dict[bytes, int]) -> bytes | None:
    parts = path.split(b"/")
    for i in range(1, len(parts)):
        if b"/".join(parts[:i]) in folders:
            return b"/".join(parts[:i])
    return None


def lost_found_line(st: Status) -> str:
    """One line for the copies forced checkouts kept (workspace/lostfound.py)."""
    files = sum(e.files for e in st.lost_found)
    return (
        f"{files} file(s) kept in .dvault/lost+found by checkout --force (latest "
        f"{st.lost_found[-1].when}); dvault gc removes them after [gc] lost_found_days"
    )
