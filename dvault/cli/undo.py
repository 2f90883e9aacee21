"""``dvault revert`` and ``dvault reset``: undoing a commit, moving a branch back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import AcceptRootsOpt, Invocation, JsonOpt, with_repository
from dvault.cli.output import size
from dvault.errors import UsageError

if TYPE_CHECKING:
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    app.command()(revert)
    app.command()(reset)


@with_repository()
def revert(
    inv: Invocation,
    repo: Repo,
    rev: Annotated[str, typer.Argument(help="The commit whose changes to undo.")],
    message: Annotated[
        str | None,
        typer.Option("--message", "-m", help='Commit message (default: Revert "<first line>").'),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Undo a commit's changes with a new commit on the current branch.

    Every path REV changed (against its first parent) goes back to its version before REV;
    what REV added is deleted, what it deleted comes back. History is only appended to:
    REV stays, and the new commit records `reverts: <id>` in its lineage. A path changed
    again since REV is a conflict: the revert is refused (exit 2), the paths named, and
    nothing written. Uncommitted changes in the paths it touches are refused too (exit 1).

    \b
    Examples:
      dvault revert HEAD                   # undo the last commit (a bad relabel)
      dvault revert 9f2c7a1b -m "undo the c01 relabel"
      dvault revert v2 --json
    """
    report = repo.revert(rev, message)
    for c in report.changes:
        inv.out.note(f"{'removed' if c.new is None else 'restored'} {inv.rel(repo, c.path)}")
    new, old = report.commit.hex(), report.reverted.hex()
    if as_json:
        inv.out.json(
            {
                "commit": new,
                "reverts": old,
                "paths": [inv.rel(repo, c.path) for c in report.changes],
                "written": report.checkout.written,
                "removed": report.checkout.removed,
            }
        )
        return
    inv.out.message(
        f"[{new[:12]}] reverted {old[:12]}: {len(report.changes)} path(s) restored "
        f"({report.checkout.written} written, {report.checkout.removed} removed)"
    )


@with_repository()
def reset(
    inv: Invocation,
    repo: Repo,
    rev: Annotated[str, typer.Argument(help="Branch, tag or commit to move to.")],
    soft: Annotated[
        bool, typer.Option("--soft", help="Move the branch only; stage and workspace stay.")
    ] = False,
    hard: Annotated[
        bool,
        typer.Option(
            "--hard",
            help="Move the branch and make stage and workspace match REV, discarding "
            "uncommitted changes.",
        ),
    ] = False,
    accept_roots: AcceptRootsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Move the current branch (or a detached HEAD) to REV.

    One of --soft or --hard is required. --soft moves only the branch: the stage and the
    workspace stay as they are, so `status` shows the difference as staged changes. --hard
    also makes the stage and the workspace match REV and discards every uncommitted change
    to tracked files (the discarded paths are listed; untracked files stay). The branch's
    reflog keeps the old tip, and the message names it: `dvault reset --hard OLD` goes back.

    \b
    Examples:
      dvault reset --hard HEAD~1           # drop the last commit and its files
      dvault reset --soft HEAD~1           # uncommit, keep the files staged
      dvault reset --hard 9f2c7a1b0d34     # back to the old tip a reset printed
    """
    if soft == hard:
        raise UsageError("choose one of --soft or --hard")
    if accept_roots and soft:
        raise UsageError("--accept-roots needs --hard")
    report = repo.reset(rev, hard=hard, accept_roots=accept_roots)
    out = inv.out
    where = f"branch {report.branch}" if report.branch else "HEAD (detached)"
    old = report.old.hex() if report.old else None
    if as_json:
        out.json(
            {
                "branch": report.branch,
                "old": old,
                "new": report.new.hex(),
                "mode": "hard" if hard else "soft",
                "discarded": [inv.rel(repo, p) for p in report.discarded],
            }
        )
        return
    for path in report.discarded:
        out.message(f"discarded changes to {inv.rel(repo, path)}")
    was = f" (was {old[:12]}; `dvault reset --hard {old[:12]}` goes back)" if old else ""
    line = f"moved {where} to {report.new.hex()[:12]}{was}"
    if report.checkout is not None:
        c = report.checkout
        line += f": {c.written} written, {c.removed} removed ({size(c.bytes_written)})"
    out.message(line)
