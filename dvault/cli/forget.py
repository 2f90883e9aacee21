"""``dvault forget``: apply a retention policy to a remote (restic's vocabulary)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_repository

if TYPE_CHECKING:
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    app.command()(forget)


@with_repository()
def forget(
    inv: Invocation,
    repo: Repo,
    remote: Annotated[
        str | None, typer.Argument(help="Remote (default: the default remote).")
    ] = None,
    keep_last: Annotated[
        int, typer.Option("--keep-last", min=0, help="Keep the N newest commits.")
    ] = 0,
    keep_hourly: Annotated[
        int, typer.Option("--keep-hourly", min=0, help="Keep the newest commit of N hours.")
    ] = 0,
    keep_daily: Annotated[
        int, typer.Option("--keep-daily", min=0, help="Keep the newest commit of N days.")
    ] = 0,
    keep_weekly: Annotated[
        int, typer.Option("--keep-weekly", min=0, help="Keep the newest commit of N ISO weeks.")
    ] = 0,
    keep_monthly: Annotated[
        int, typer.Option("--keep-monthly", min=0, help="Keep the newest commit of N months.")
    ] = 0,
    keep_yearly: Annotated[
        int, typer.Option("--keep-yearly", min=0, help="Keep the newest commit of N years.")
    ] = 0,
    keep_within: Annotated[
        str | None,
        typer.Option(
            "--keep-within",
            help="Keep every commit within DURATION of the newest (e.g. 90d, 2y5m, 1y2m3d4h).",
        ),
    ] = None,
    keep_tags: Annotated[
        bool, typer.Option("--keep-tags", help="Count tagged commits as kept by the policy.")
    ] = False,
    branch: Annotated[
        list[str] | None,
        typer.Option(
            "--branch",
            "-b",
            help="Apply to this branch (repeatable; default: every unprotected one).",
        ),
    ] = None,
    release_tag: Annotated[
        list[str] | None,
        typer.Option(
            "--release-tag",
            help="Let the policy release this tag's or pin's commit (tags and pins are kept "
            "otherwise; repeatable).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be kept and released; append nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Release the contents of commits a retention policy no longer keeps (restic's rules).

    Appends one signed forget entry to the remote's ref log; nothing is deleted (dvault
    prune does that, with the admin credential) and history is never rewritten. Needs
    only the pusher credential and a signing key trusted in this project.

    \b
    Examples:
      dvault forget origin --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --dry-run
      dvault forget origin --keep-last 10 --keep-within 90d --branch nightly
      dvault forget origin --keep-monthly 6 --release-tag rc-2024-01 --json
    """
    from dvault.ops.forget import forget as run_forget  # deferred: blake3, the remote code
    from dvault.retention import Duration, Policy, PolicyError

    try:
        within = None if keep_within is None else Duration.parse(keep_within)
    except PolicyError as exc:
        raise typer.BadParameter(str(exc), param_hint="--keep-within") from None
    policy = Policy(
        keep_last,
        keep_hourly,
        keep_daily,
        keep_weekly,
        keep_monthly,
        keep_yearly,
        within,
        keep_tags,
    )
    report = run_forget(repo, remote, policy, branch, release_tag, dry_run)
    out = inv.out
    for line in report.ignored:
        out.tell(line)
    if as_json:
        out.json(report.to_json())
        return
    verb = {
        "keep": "keep",
        "release": "would release" if dry_run else "release",
        "released": "released",
    }
    for row in report.rows:
        when = datetime.fromtimestamp(row.time_ns // 10**9, UTC).strftime("%Y-%m-%d %H:%M")
        why = f"  ({', '.join(row.reasons)})" if row.reasons else ""
        out.data(f"{verb[row.action]:13} {row.id[:12]}  {when}  ", ",".join(row.branches), why)
    released = len(report.released)
    if report.entry is not None:
        out.message(
            f"released {released} commit(s) of {len(report.rows)}: forget entry {report.entry} "
            f"on remote {report.remote} ({policy.describe()}); dvault prune frees their data"
        )
    elif dry_run:
        out.message(f"would release {released} commit(s) of {len(report.rows)}; nothing appended")
    else:
        out.message(f"nothing to release ({len(report.rows)} commit(s) kept); nothing appended")
