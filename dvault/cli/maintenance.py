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
    for command in (repair, gc, redact):
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


@with_repository()
def redact(
    inv: Invocation,
    repo: Repo,
    paths: Annotated[list[str], typer.Argument(help="Files or directories to erase.")],
    reason: Annotated[str, typer.Option(help="Why (recorded with the redaction).")] = "",
    rev: Annotated[
        list[str] | None, typer.Option(help="Only these revisions and their history.")
    ] = None,
    remote: Annotated[
        str | None,
        typer.Option(help="Also record a signed redact entry in this remote's ref log."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only report what would be erased.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Erase the contents of PATHS from every kept commit, keeping commit ids.

    The objects only those files use are recorded in .dvault/erased.json and removed
    from the local packs; commits, trees and every other file stay, so pins, signatures
    and lineage still verify. Reading an erased path then fails for that path alone
    ("PATH: erased on DATE by USER: REASON"). Bytes another file shares are kept and
    counted as shared. With --remote, a signed redact entry (path hashes, object ids,
    who, when, why) is appended to the remote's ref log first (needs a signing key and
    every remote ref fetched); dvault prune deletes the remote's copies.

    \b
    Examples:
      dvault redact data/people.csv --reason "GDPR request 42" --dry-run
      dvault redact data/people.csv --reason "GDPR request 42" --remote origin
      dvault redact raw/faces/ --rev v1.0 --reason "licence withdrawn"
    """
    out = inv.out
    rel = [repo.relpath(p).decode("utf-8", "surrogateescape") for p in inv.full(paths)]
    report = repo.redact(rel, reason, rev or None, dry_run, remote)
    plan, record = report.plan, report.record
    if as_json:
        out.json(
            {
                "dry_run": dry_run,
                "commits": [c.hex() for c in plan.commits],
                "files": sorted(plan.files),
                "objects": sorted(o.hex() for o in plan.objects),
                "shared": sorted(o.hex() for o in plan.shared),
                "removed_bytes": plan.removed_bytes,
                "remote": remote,
                "log_seq": report.log_seq,
                "redaction": None if record is None else record.to_json(),
            }
        )
        return
    verb = "would erase" if dry_run else "erased"
    out.message(
        f"{verb} {len(plan.objects)} object(s) of {len(plan.files)} file(s) "
        f"in {len(plan.commits)} commit(s)"
        + ("" if dry_run else f", {size(plan.removed_bytes)} removed from the local packs")
    )
    if report.log_seq is not None:
        out.message(
            f"recorded as signed ref-log entry {report.log_seq} of remote {remote}; "
            f"dvault prune {remote} deletes its copies"
        )
    if plan.shared:
        out.note(f"{len(plan.shared)} object(s) kept: other files share them")
