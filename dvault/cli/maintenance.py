"""``dvault repair`` and ``gc``: keeping the local store whole and lean."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_repository
from dvault.cli.output import size

if TYPE_CHECKING:
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    for command in (repair, gc):
        app.command()(command)


@with_repository()
def repair(inv: Invocation, repo: Repo, as_json: JsonOpt = False) -> None:
    """Rebuild the index, salvage damaged packs, re-fetch what remotes still have, and
    restore damaged refs from their reflog.

    Never deletes anything reachable; damaged packs are moved to .dvault/damaged/.
    Exit 1 when something could not be recovered.

    \b
    Examples:
      dvault repair
      dvault repair --json && dvault verify --read-data
    """
    # deferred: repair pulls in blake3 and the remotes
    from dvault.maintenance.repair import repair as do_repair

    out = inv.out
    report = do_repair(repo)
    if as_json:
        out.json({"ok": report.ok, **dataclasses.asdict(report)})
    else:
        out.message(
            f"index rebuilt; salvaged {report.objects_salvaged} object(s) from "
            f"{report.packs_salvaged} damaged pack(s); re-fetched {report.objects_refetched} "
            "from remotes"
        )
        for line in report.refs_restored:
            out.message(line)
        for line in report.unrecoverable:
            out.problem(line)
    if not report.ok:
        raise typer.Exit(1)


@with_repository()
def gc(
    inv: Invocation,
    repo: Repo,
    dry_run: Annotated[bool, typer.Option(help="Only report what would be removed.")] = False,
    keep_within: Annotated[
        str, typer.Option(help="Keep what reflog entries of this age reach (e.g. 14d, 12h).")
    ] = "14d",
    as_json: JsonOpt = False,
) -> None:
    """Remove objects nothing references (mark and sweep, with repacking); never touches
    remotes. Packs younger than an hour are always kept. Copies kept in
    .dvault/lost+found by checkout --force go after [gc] lost_found_days (default 14).

    \b
    Examples:
      dvault gc --dry-run                  # what would go, nothing removed
      dvault gc --keep-within 30d
    """
    from dvault.maintenance.gc import collect, parse_duration  # deferred: blake3

    out = inv.out
    report = collect(repo, dry_run, parse_duration(keep_within))
    for line in report.details:
        out.note(line)
    if as_json:
        out.json(dataclasses.asdict(report))
        return
    verb = "would remove" if dry_run else "removed"
    out.message(
        f"{verb} {report.removed_objects} object(s), {size(report.removed_bytes)} "
        f"({report.packs_removed} pack(s) affected, {report.packs_rewritten} rewritten); "
        f"{report.live_objects} live; {report.packs_kept_young} young pack(s) kept"
    )
    for name in report.lost_found_removed:
        out.message(f"{verb} {name}")
