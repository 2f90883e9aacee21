"""``dvault checkout``: the workspace, or some paths of it, as of a revision."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import AcceptRootsOpt, Invocation, JsonOpt, with_repository
from dvault.cli.output import size
from dvault.errors import UsageError

if TYPE_CHECKING:
    from dvault.hashing import ObjectId
    from dvault.repo import Repo
    from dvault.workspace.checkout import CheckoutReport


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
    pin: Annotated[
        bool, typer.Option("--pin", help="The commit dvault.lock pins (in a git project).")
    ] = False,
    overlay: Annotated[
        bool,
        typer.Option(
            "--overlay/--no-overlay",
            help="REV -- PATH: keep files REV lacks (default), or remove them.",
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Make the workspace match a revision; `-- PATH...` restores only those paths.

    A revision that tracks roots this project never tracked is refused (exit 2,
    nothing written, the roots named) until you accept them with --accept-roots.

    `REV -- PATH...` overlays, as git does: files under PATH that REV lacks are
    left alone; --no-overlay removes them, so PATH mirrors REV. A file missing
    from the workspace is simply restored.

    `-- PATH...` without a revision restores what `dvault add` staged (else
    HEAD's content) and DISCARDS uncommitted edits of the files under PATH, as
    `git checkout -- PATH` does (a copy of each is kept in .dvault/lost+found);
    the stage and HEAD do not move.

    --pin checks out the commit dvault.lock pins, as the post-checkout hook does
    after `git checkout` (fetching it from the default remote if needed); it
    refuses to overwrite uncommitted changes, naming them, unless --force.

    During a merge stopped on conflicts, `--ours` or `--theirs` `-- PATH...` (no
    revision) takes that side's version of each conflicting path, removes its
    PATH~theirs copy and marks it resolved for `dvault merge --continue`.

    \b
    Examples:
      dvault checkout v1                   # the whole workspace as of tag v1
      dvault checkout main -- data/labels  # restore one folder; HEAD stays
      dvault checkout --no-overlay main -- data/labels  # ... and drop files main lacks
      dvault checkout -- data/labels.csv   # discard its edits: back to the staged version
      dvault checkout --pin                # the data dvault.lock pins (after git checkout)
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
    if pin:
        if rev is not None or paths is not None or not overlay:
            raise UsageError("use dvault checkout --pin [--force] [--accept-roots] (no revision)")
        _checkout_pin(inv, repo, force, accept_roots, as_json)
        return
    if rev is None and paths:
        if force or accept_roots or not overlay:
            raise UsageError(
                "dvault checkout -- PATH... (no revision) takes no --force, --accept-roots "
                "or --no-overlay: it always restores the staged content"
            )
        report = repo.restore(inv.full(paths))
        _done(inv, repo, None, report, None, paths, as_json)
        return
    if rev is None:
        raise UsageError("missing revision: dvault checkout REV [-- PATH...]")
    if not overlay and not paths:
        raise UsageError("--no-overlay is for dvault checkout REV -- PATH...")
    target = repo.resolve(rev) if as_json else None  # before HEAD~1 moves with HEAD
    report = repo.checkout(
        rev, inv.full(paths) or None, force=force, accept_roots=accept_roots, overlay=overlay
    )
    _done(inv, repo, rev, report, target, paths, as_json)


def _done(
    inv: Invocation,
    repo: Repo,
    rev: str | None,
    report: CheckoutReport,
    target: ObjectId | None,
    paths: list[str] | None,
    as_json: bool,
) -> None:
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
                "erased": report.erased,
            }
        )
        if report.erased:
            raise typer.Exit(1)
        return
    if report.kept is not None:
        inv.out.message(
            f"kept {report.kept.files} overwritten uncommitted file(s) in "
            f".dvault/lost+found/{report.kept.name}"
        )
    where = f"branch {branch}" if branch and not paths else rev or "the stage"
    inv.out.message(
        f"checked out {where}: {report.written} written, {report.removed} removed "
        f"({size(report.bytes_written)})"
    )
    for line in report.erased:  # every other file was written; these were erased
        inv.out.problem(line)
    if report.erased:
        raise typer.Exit(1)


def _checkout_pin(inv: Invocation, repo: Repo, force: bool, accept: bool, as_json: bool) -> None:
    summary = repo.checkout_pin(force=force, accept_roots=accept)
    branch, head = repo.head()
    if as_json:
        inv.out.json({"pin": head.hex() if head else None, "branch": branch, "summary": summary})
        return
    inv.out.message(summary)


def warn_pin(inv: Invocation, repo: Repo) -> None:
    """One line on stderr when the workspace is not at the commit dvault.lock pins (add,
    diff): what status says, with the command that fixes it."""
    state = repo.pin_state()
    line = state.warning() if state is not None else None
    if line is not None:
        inv.out.tell(f"warning: {line}")
