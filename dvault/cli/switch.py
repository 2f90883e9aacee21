"""``dvault checkout``: the workspace, or some paths of it, as of a revision."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import AcceptRootsOpt, Invocation, JsonOpt, with_repository
from dvault.cli.output import size
from dvault.errors import UsageError

if TYPE_CHECKING:
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    app.command()(checkout)


@with_repository(takes_paths=True)
def checkout(
    inv: Invocation,
    repo: Repo,
    rev: Annotated[str | None, typer.Argument(help="Branch, tag or commit.")] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            "-f",
            help="Overwrite uncommitted changes in the paths the checkout writes (a copy "
            "of each goes to .dvault/lost+found); other edits are carried as without it.",
        ),
    ] = False,
    accept_roots: AcceptRootsOpt = False,
    ours: Annotated[
        bool, typer.Option("--ours", help="During a merge: take our side of -- PATH...")
    ] = False,
    theirs: Annotated[
        bool, typer.Option("--theirs", help="During a merge: take their side of -- PATH...")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make the workspace match a revision; `-- PATH...` restores only those paths.

    A revision that tracks roots this project never tracked is refused (exit 2,
    nothing written, the roots named) until you accept them with --accept-roots.

    During a merge stopped on conflicts, `--ours` or `--theirs` `-- PATH...` (no
    revision) takes that side's version of each conflicting path, removes its
    PATH~theirs copy and marks it resolved for `dvault merge --continue`.

    \b
    Examples:
      dvault checkout v1                   # the whole workspace as of tag v1
      dvault checkout main -- data/labels  # restore one folder; HEAD stays
      dvault checkout -f main              # overwrite conflicting edits (copies kept)
      dvault checkout --accept-roots v2    # v2 tracks a new folder, and you expect it
      dvault checkout --theirs -- data/labels.csv   # resolve a merge conflict
    """
    paths = inv.paths
    if ours or theirs:
        if rev is not None or not paths or (ours and theirs) or force:
            raise UsageError("use dvault checkout --ours|--theirs -- PATH... (no revision)")
        side = "ours" if ours else "theirs"
        done = repo.resolve_conflicts(inv.full(paths), side)
        if as_json:
            inv.out.json({"side": side, "resolved": [os.fsdecode(p) for p in done]})
            return
        for p in done:
            inv.out.message(f"resolved {inv.rel(repo, p)} with {side}")
        return
    if rev is None:
        raise UsageError("missing revision: dvault checkout REV [-- PATH...]")
    target = repo.resolve(rev) if as_json else None  # before HEAD~1 moves with HEAD
    report = repo.checkout(rev, inv.full(paths) or None, force=force, accept_roots=accept_roots)
    branch, head = repo.head()
    for c in report.changes:
        inv.out.note(f"{'removed' if c.new is None else 'wrote'} {inv.rel(repo, c.path)}")
    if as_json:
        inv.out.json(
            {
                "rev": rev,
                "commit": target.hex() if target else None,
                "branch": branch if not paths else None,
                "head": head.hex() if head else None,
                "paths": paths,
                "written": report.written,
                "removed": report.removed,
                "bytes_written": report.bytes_written,
                "kept_in": f".dvault/lost+found/{report.kept.name}" if report.kept else None,
            }
        )
        return
    if report.kept is not None:
        inv.out.message(
            f"kept {report.kept.files} overwritten uncommitted file(s) in "
            f".dvault/lost+found/{report.kept.name}"
        )
    where = f"branch {branch}" if branch and not paths else rev
    inv.out.message(
        f"checked out {where}: {report.written} written, {report.removed} removed "
        f"({size(report.bytes_written)})"
    )
