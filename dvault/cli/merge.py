"""``dvault merge``: join another branch (or any revision) into the current branch."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import AcceptRootsOpt, Invocation, JsonOpt, with_repository

if TYPE_CHECKING:
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    app.command()(merge)


@with_repository()
def merge(
    inv: Invocation,
    repo: Repo,
    rev: Annotated[str, typer.Argument(help="Branch, tag or commit to merge in.")],
    no_ff: Annotated[
        bool, typer.Option("--no-ff", help="Write a merge commit even for a fast-forward.")
    ] = False,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Merge commit message.")
    ] = None,
    accept_roots: AcceptRootsOpt = False,
    sign: Annotated[
        bool, typer.Option("--sign", help="Sign the merge commit with your ed25519 key.")
    ] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="Signing key name (default: your only key).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge a revision into the current branch: three-way, against the merge base.

    Paths changed on one side only are taken; label files (.csv, .tsv, .jsonl, .txt)
    both sides changed are merged line by line. A clean merge is committed with two
    parents (HEAD, then REV) and checked out. Conflicts (the same path changed
    differently, modify/delete, file/directory) are refused, one line per path, exit 1,
    with nothing changed. Needs a workspace without uncommitted changes.

    \b
    Examples:
      dvault merge relabel            # fast-forward, or a merge commit
      dvault merge --no-ff relabel    # always a merge commit
      dvault merge origin/main -m "take the new images"
      dvault merge --no-ff relabel --sign  # a signed merge commit
    """
    from dvault.ops.merge import MergeConflicts  # deferred: start-up (the merge modules)

    try:
        report = repo.merge(
            rev, no_ff=no_ff, message=message, accept_roots=accept_roots, sign=sign, key=key
        )
    except MergeConflicts as exc:
        if not as_json:
            for c in exc.conflicts:
                inv.out.problem(f"conflict ({c.kind}): {os.fsdecode(c.path)}")
        raise
    merged = [os.fsdecode(p) for p in report.merged_files]
    if as_json:
        inv.out.json(
            {
                "rev": rev,
                "result": report.kind,
                "commit": report.commit.hex(),
                "base": report.base.hex() if report.base is not None else None,
                "merged_files": merged,
                "written": report.checkout.written if report.checkout else 0,
                "removed": report.checkout.removed if report.checkout else 0,
            }
        )
        return
    for path in merged:
        inv.out.message("merged lines of ", path)
    if report.kind == "up-to-date":
        inv.out.message("already up to date with ", rev)
        return
    co = report.checkout
    counts = f"{co.written} written, {co.removed} removed" if co is not None else ""
    what = "fast-forward to" if report.kind == "fast-forward" else "merged into"
    inv.out.message(f"{what} {report.commit.hex()[:12]}: {counts}")
