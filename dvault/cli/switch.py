"""``dvault checkout``: the workspace, or some paths of it, as of a revision."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import AcceptRootsOpt, Invocation, JsonOpt, with_repository
from dvault.cli.output import size

if TYPE_CHECKING:
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    app.command()(checkout)


@with_repository(takes_paths=True)
def checkout(
    inv: Invocation,
    repo: Repo,
    rev: Annotated[str, typer.Argument(help="Branch, tag or commit.")],
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite uncommitted changes.")
    ] = False,
    accept_roots: AcceptRootsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Make the workspace match a revision; `-- PATH...` restores only those paths.

    A revision that tracks roots this project never tracked is refused (exit 2,
    nothing written, the roots named) until you accept them with --accept-roots.

    \b
    Examples:
      dvault checkout v1                   # the whole workspace as of tag v1
      dvault checkout main -- data/labels  # restore one folder; HEAD stays
      dvault checkout -f main              # discard uncommitted changes
      dvault checkout --accept-roots v2    # v2 tracks a new folder, and you expect it
    """
    paths = inv.paths
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
            }
        )
        return
    where = f"branch {branch}" if branch and not paths else rev
    inv.out.message(
        f"checked out {where}: {report.written} written, {report.removed} removed "
        f"({size(report.bytes_written)})"
    )
