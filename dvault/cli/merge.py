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
    rev: Annotated[str | None, typer.Argument(help="Branch, tag or commit to merge in.")] = None,
    no_ff: Annotated[
        bool, typer.Option("--no-ff", help="Write a merge commit even for a fast-forward.")
    ] = False,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Merge commit message.")
    ] = None,
    accept_roots: AcceptRootsOpt = False,
    cont: Annotated[
        bool,
        typer.Option("--continue", help="Commit a merge stopped on conflicts, once resolved."),
    ] = False,
    abort: Annotated[
        bool, typer.Option("--abort", help="Undo a merge stopped on conflicts.")
    ] = False,
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
    parents (HEAD, then REV) and checked out. Needs a workspace without uncommitted
    changes.

    Conflicts (the same path changed differently, modify/delete, file/directory) stop
    the merge, one line per path, exit 1: the clean part is staged and checked out; a
    label file holds <<<<<<< ours / ======= / >>>>>>> theirs blocks; any other path
    keeps ours, with theirs beside it as PATH~theirs. Resolve each path with
    `dvault checkout --ours|--theirs -- PATH` (or edit it and `dvault add PATH`), then
    `dvault merge --continue`; `dvault merge --abort` puts HEAD's state back.

    \b
    Examples:
      dvault merge relabel            # fast-forward, or a merge commit
      dvault merge --no-ff relabel    # always a merge commit
      dvault merge origin/main -m "take the new images"
      dvault checkout --theirs -- data/labels.csv && dvault merge --continue
      dvault merge --abort            # give up a merge stopped on conflicts
      dvault merge --no-ff relabel --sign  # a signed merge commit
    """
    from dvault.errors import UsageError
    from dvault.ops.conflicts import MergeStopped  # deferred: start-up (the merge modules)
    from dvault.ops.merge import MergeConflicts

    if cont or abort:
        if rev is not None or no_ff or message is not None or (cont and abort):
            raise UsageError("--continue and --abort take no revision and no other option")
        _finish(inv, repo, abort, as_json)
        return
    if rev is None:
        raise UsageError("missing revision: dvault merge REV (or --continue, --abort)")
    try:
        report = repo.merge(
            rev, no_ff=no_ff, message=message, accept_roots=accept_roots, sign=sign, key=key
        )
    except (MergeConflicts, MergeStopped) as exc:
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


def _finish(inv: Invocation, repo: Repo, abort: bool, as_json: bool) -> None:
    if abort:
        head = repo.merge_abort()
        if as_json:
            inv.out.json({"result": "aborted", "head": head.hex()})
        else:
            inv.out.message(f"merge aborted: back to {head.hex()[:12]}")
        return
    report = repo.merge_continue()
    if as_json:
        inv.out.json({"result": "merge", "commit": report.commit.hex()})
    else:
        inv.out.message(f"merge committed: {report.commit.hex()[:12]}")
