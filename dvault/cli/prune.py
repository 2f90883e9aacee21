"""``dvault prune``: shrink a remote, with its admin credential, in two crash-safe phases."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_repository
from dvault.cli.output import size

if TYPE_CHECKING:
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    app.command()(prune)


@with_repository()
def prune(
    inv: Invocation,
    repo: Repo,
    remote: Annotated[str, typer.Argument(help="The remote to prune.")],
    dry_run: Annotated[
        bool, typer.Option(help="Only report what a plan would delete; nothing written.")
    ] = False,
    grace: Annotated[
        str,
        typer.Option(help="Execute only plans at least this old (e.g. 1h, 30m, 0)."),
    ] = "1h",
    admin: Annotated[
        bool,
        typer.Option(help="Directory remote: act as its administrator (unlink files)."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete from a remote what no kept commit needs: plan (repack partly live packs into
    new create-only packs, append a signed prune-plan entry), then execute plans older than
    --grace (re-check, ask S3 Object Lock, delete, append prune-done).

    Needs the admin credential (S3: admin_profile in .dvault/config.local or
    DVAULT_ADMIN_AWS_* variables; a directory: --admin) and a signing key. A pack still
    locked is kept and its retain-until date said. Exit 0 when done, 2 on bad usage or a
    missing admin credential (nothing changed).

    \b
    Examples:
      dvault prune origin --dry-run          # what would go, nothing written
      dvault prune origin                    # plan now, delete plans older than 1 h
      dvault prune nas --admin --grace 0     # plan and delete at once (no pusher running)
    """
    from dvault.remote.prune import parse_grace  # deferred: the remotes (blake3)
    from dvault.remote.prune import prune as do_prune
    from dvault.remote.session import pick_remote

    out = inv.out
    spec = pick_remote(repo, remote)
    report = do_prune(repo, spec, dry_run=dry_run, grace_s=parse_grace(grace), admin=admin)
    if as_json:
        out.json(dataclasses.asdict(report))
        return
    for line in report.holes:
        out.problem(f"packs/{line}.pack cannot be read (a hole); never deleted")
    if dry_run:
        out.message(
            f"would delete {len(report.packs_dead)} pack(s) and repack "
            f"{len(report.packs_repacked)}, freeing up to {size(report.bytes_to_free)}; "
            f"{report.live_objects} live object(s)"
        )
        return
    if report.planned_seq is not None:
        out.message(
            f"planned: {len(report.packs_dead) + len(report.packs_repacked)} pack(s) to delete "
            f"(ref-log entry {report.planned_seq}), {len(report.packs_added)} new pack(s)"
        )
    for line in report.plans_waiting:
        out.message(line)
    for line in report.kept:
        out.message(line)
    out.message(f"deleted {len(report.deleted)} pack(s), freed {size(report.bytes_freed)}")
