"""``dvault stash push|pop|apply|list|show|drop``: uncommitted changes put aside in the
repository, and brought back."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_repository
from dvault.cli.output import title

if TYPE_CHECKING:
    from dvault.ops.stash import StashEntry
    from dvault.repo import Repo

WhichArg = Annotated[str, typer.Argument(help="The entry: N or stash@{N} (0 is the newest).")]


def register(app: typer.Typer) -> None:
    stash_app = typer.Typer(
        help="Put uncommitted workspace changes aside (kept in the repository) and bring "
        "them back.\n\n"
        "\b\nExamples:\n"
        "  dvault stash push -m 'half-done relabel'   # save the edits, workspace at HEAD\n"
        "  dvault stash list\n"
        "  dvault stash pop                           # re-apply the newest and drop it",
        no_args_is_help=True,
    )
    app.add_typer(stash_app, name="stash")
    stash_app.command("push")(stash_push)
    stash_app.command("pop")(stash_pop)
    stash_app.command("apply")(stash_apply)
    stash_app.command("list")(stash_list)
    stash_app.command("show")(stash_show)
    stash_app.command("drop")(stash_drop)


def _json(entry: StashEntry) -> dict[str, object]:
    return {
        "name": entry.name,
        "commit": entry.id.hex(),
        "base": entry.commit.parents[0].hex() if entry.commit.parents else None,
        "message": entry.commit.message,
        "time_ns": entry.commit.time_ns,
    }


@with_repository(takes_paths=True)
def stash_push(
    inv: Invocation,
    repo: Repo,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Describe the entry.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Save the uncommitted changes (modified, new and deleted files) under the tracked
    roots, or under `-- PATH...`, as a stash entry, and reset those paths to HEAD.

    The entry is durable in the repository before any file is reset.

    \b
    Examples:
      dvault stash push                         # everything tracked
      dvault stash push -m 'relabel' -- data/labels
    """
    entry = repo.stash_push(message, inv.full(inv.paths) or None)
    if entry is None:
        if as_json:
            inv.out.json(None)
        else:
            inv.out.message("no local changes to save")
        return
    if as_json:
        inv.out.json(_json(entry))
        return
    inv.out.message(f"saved {entry.name}: ", title(entry.commit.message))


def _pop(inv: Invocation, repo: Repo, which: str, drop: bool, as_json: bool) -> None:
    report = repo.stash_pop(which, drop)
    if as_json:
        inv.out.json(
            {
                **_json(report.entry),
                "written": report.written,
                "removed": report.removed,
                "dropped": drop,
            }
        )
        return
    inv.out.message(
        f"applied {report.entry.name}: {report.written} written, {report.removed} removed"
        + ("; dropped it" if drop else "")
    )


@with_repository()
def stash_pop(inv: Invocation, repo: Repo, which: WhichArg = "0", as_json: JsonOpt = False) -> None:
    """Re-apply a stash entry (default the newest) on top of HEAD, then drop it.

    A path changed both in the entry and since it was saved (in HEAD or in the
    workspace) is a conflict: nothing is changed and the entry is kept.

    \b
    Examples:
      dvault stash pop
      dvault stash pop 1
    """
    _pop(inv, repo, which, True, as_json)


@with_repository()
def stash_apply(
    inv: Invocation, repo: Repo, which: WhichArg = "0", as_json: JsonOpt = False
) -> None:
    """Like pop, but keep the entry.

    \b
    Examples:
      dvault stash apply
      dvault stash apply stash@{1}
    """
    _pop(inv, repo, which, False, as_json)


@with_repository()
def stash_list(inv: Invocation, repo: Repo, as_json: JsonOpt = False) -> None:
    """The stash entries, newest first.

    \b
    Examples:
      dvault stash list
      dvault stash list --json
    """
    found = repo.stash_list()
    if as_json:
        inv.out.json([_json(e) for e in found])
        return
    for e in found:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.commit.time_ns / 1e9))
        inv.out.data(f"{e.name}  {e.id.hex()[:12]}  {when}  ", title(e.commit.message))


@with_repository()
def stash_show(
    inv: Invocation, repo: Repo, which: WhichArg = "0", as_json: JsonOpt = False
) -> None:
    """The paths a stash entry changes (A added, M modified, D deleted).

    \b
    Examples:
      dvault stash show
      dvault stash show 1 --json
    """
    from dvault.ops import stash  # deferred: start-up

    entry = stash.find(repo, which)
    found = stash.changes(repo, entry)
    if as_json:
        inv.out.json(
            {
                **_json(entry),
                "changes": [{"path": os.fsdecode(c.path), "status": c.status} for c in found],
            }
        )
        return
    for c in found:
        inv.out.data(f"{c.status[0].upper()}  ", inv.rel(repo, c.path))


@with_repository()
def stash_drop(inv: Invocation, repo: Repo, which: WhichArg, as_json: JsonOpt = False) -> None:
    """Forget a stash entry.

    \b
    Examples:
      dvault stash drop 0
    """
    entry = repo.stash_drop(which)
    if as_json:
        inv.out.json(_json(entry))
        return
    inv.out.message(f"dropped {entry.name} ({entry.id.hex()[:12]})")
