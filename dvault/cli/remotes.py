"""``dvault remote add|remove|list|default`` and ``remote passphrase add|list``: the remotes a
project knows, and the passphrases of an encrypted one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_repository
from dvault.errors import UsageError

if TYPE_CHECKING:
    from dvault.remote.backend import RemoteSpec
    from dvault.remote.usage import UsageReport
    from dvault.remote.usageplan import PolicyUsage
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    remote_app = typer.Typer(
        help="Manage remotes: append-only copies on a directory/NAS or an S3-compatible "
        "store.\n\n"
        "\b\nExamples:\n"
        "  dvault remote add origin s3://ml-backups/vision --retention 90\n"
        "  dvault remote add --init nas /mnt/nas/dvault/vision\n"
        "  dvault remote list --json",
        no_args_is_help=True,
    )
    app.add_typer(remote_app, name="remote")
    remote_app.command("add")(remote_add)
    remote_app.command("init")(remote_init)
    remote_app.command("remove")(remote_remove)
    remote_app.command("list")(remote_list)
    remote_app.command("default")(remote_default)
    remote_app.command("du")(remote_du)

    passphrase_app = typer.Typer(
        help="Passphrases of an encrypted remote: each opens a key slot that wraps the same "
        "repository key, so adding one re-encrypts nothing.\n\n"
        "\b\nExamples:\n"
        "  DVAULT_NEW_PASSPHRASE=... dvault remote passphrase add origin --label ci\n"
        "  dvault remote passphrase list origin",
        no_args_is_help=True,
    )
    remote_app.add_typer(passphrase_app, name="passphrase")
    passphrase_app.command("add")(passphrase_add)
    passphrase_app.command("list")(passphrase_list)


def _remote_json(name: str, spec: RemoteSpec) -> dict[str, object]:
    return {"name": name, **spec.to_config()}


@with_repository()
def remote_add(
    inv: Invocation,
    repo: Repo,
    name: Annotated[str, typer.Argument(help="Short name, e.g. origin.")],
    url: Annotated[str, typer.Argument(help="A path, file:///path, or s3://bucket/prefix.")],
    endpoint: Annotated[
        str | None, typer.Option(help="S3 endpoint URL (MinIO, Ceph RGW); default AWS.")
    ] = None,
    region: Annotated[str | None, typer.Option(help="S3 region.")] = None,
    retention: Annotated[
        int | None,
        typer.Option(help="S3 Object Lock: keep every object written at least this many days."),
    ] = None,
    profile: Annotated[str | None, typer.Option(help="AWS config profile to use.")] = None,
    protect: Annotated[
        list[str] | None,
        typer.Option(
            "--protect",
            help="Branch (glob) that only fast-forwards on this remote, even with push "
            "--force; fixed when the remote is created (repeatable).",
        ),
    ] = None,
    encrypt: Annotated[
        bool,
        typer.Option(
            help="Encrypt everything client-side (AES-256-GCM) under a passphrase "
            "(DVAULT_PASSPHRASE, else asked on the terminal)."
        ),
    ] = False,
    kdf_cost: Annotated[
        int | None,
        typer.Option(help="With --encrypt: scrypt cost as log2(n), 16-20 (default 17)."),
    ] = None,
    init: Annotated[
        bool,
        typer.Option(
            "--init",
            help="Create the remote: a new directory under an existing parent, or the marker "
            "in an existing S3 bucket. Without it a directory must already be a dvault remote.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a remote. A directory remote must already hold a dvault remote (or give
    --init to create it, as restic init does); a path inside the project and a URL with
    a mistyped scheme are refused. Credentials come from the standard AWS environment
    and profiles and are never written to .dvault/config.

    \b
    Examples:
      dvault remote add --init nas /mnt/nas/dvault/vision
      dvault remote add origin s3://ml-backups/vision --retention 90 --protect main
      dvault remote add minio s3://data/vision --endpoint http://minio:9000
      DVAULT_PASSPHRASE=... dvault remote add --init vault /mnt/nas/vision --encrypt
    """
    from dvault.remote.registry import check_url  # deferred: registry pulls in boto3 lazily

    check_url(url)  # before a relative path is made absolute: s3:/b must not become one
    spec = repo.add_remote(
        name,
        inv.local_url(url),
        endpoint,
        region,
        retention,
        profile,
        protect,
        encrypt,
        kdf_cost,
        init=init,
    )
    if as_json:
        inv.out.json(_remote_json(spec.name, spec))
        return
    lock = f" (encrypted, key {(spec.key_id or '')[:8]})" if spec.encrypt else ""
    inv.out.message(f"added remote {spec.name} -> {spec.url}{lock}")


@with_repository()
def remote_init(
    inv: Invocation,
    repo: Repo,
    name: Annotated[str, typer.Argument(help="Remote name (already configured).")],
    as_json: JsonOpt = False,
) -> None:
    """Create a configured remote's location: its directory (the parent must exist) or
    the marker in its S3 bucket. Nothing happens to a location that already is one.

    \b
    Examples:
      dvault remote init nas
    """
    created = repo.init_remote(name)
    if as_json:
        inv.out.json({"action": "created" if created else "exists", "name": name})
        return
    spec = repo.remotes()[name]
    if created:
        inv.out.message(f"created remote {name} at {spec.url}")
    else:
        inv.out.message(f"remote {name} at {spec.url} already is a dvault remote")


@with_repository()
def remote_remove(
    inv: Invocation,
    repo: Repo,
    name: Annotated[str, typer.Argument(help="Remote name.")],
    as_json: JsonOpt = False,
) -> None:
    """Forget a remote locally (nothing on the remote is touched).

    \b
    Examples:
      dvault remote remove old-nas
    """
    repo.remove_remote(name)
    if as_json:
        inv.out.json({"action": "removed", "name": name})
        return
    inv.out.message(f"removed remote {name}")


@with_repository()
def remote_list(inv: Invocation, repo: Repo, as_json: JsonOpt = False) -> None:
    """List remotes.

    \b
    Examples:
      dvault remote list
      dvault remote list --json
    """
    from dvault.remote.session import remote_specs  # deferred: session pulls in blake3

    specs = remote_specs(repo)
    if as_json:
        inv.out.json([_remote_json(n, spec) for n, spec in specs.items()])
        return
    for n, spec in specs.items():
        extra = f" (endpoint {spec.endpoint})" if spec.endpoint else ""
        lock = f", retention {spec.retention_days} days" if spec.retention_days else ""
        lock += ", encrypted" if spec.encrypt else ""
        inv.out.data(f"{n:12} {spec.url}{extra}{lock}")


@with_repository()
def remote_default(
    inv: Invocation,
    repo: Repo,
    name: Annotated[
        str | None, typer.Argument(help="The remote to make the default (omit to show it).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or set the default remote: the one push, fetch, pull, the git hooks and remote
    reads use when no remote is named. Set, it is recorded for this clone in
    .dvault/config.local ([remotes] default). Without one: the deprecated [git] remote,
    else the only remote, else origin.

    \b
    Examples:
      dvault remote default                # which one, and why
      dvault remote default s3             # push/pull/hooks now use s3
    """
    if name is not None:
        repo.set_default_remote(name)
    chosen, why = repo.default_remote()
    if as_json:
        inv.out.json({"default": chosen, "why": why})
        return
    if name is not None:
        inv.out.message(f"default remote: {chosen}")
        return
    inv.out.data(f"{chosen}  ({why})")


_BY = ("branch", "tag", "age")


def _valid_by(by: str = "branch", **_: object) -> None:
    if by not in _BY:
        raise UsageError(f"--by takes branch, tag or age, not {by!r}")


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"


@with_repository(check=_valid_by)
def remote_du(
    inv: Invocation,
    repo: Repo,
    name: Annotated[str, typer.Argument(help="Remote name.")],
    by: Annotated[str, typer.Option(help="Group bytes by branch, tag or age.")] = "branch",
    policy: Annotated[
        str | None,
        typer.Option(help="Forget options whose effect to estimate, e.g. '--keep-daily 7'."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show what a remote's bytes are for: by branch, tag or age (bytes several refs need
    are counted once, as shared), what a forget policy would free, and what Object Lock
    keeps until when. Read-only: the reader credential suffices.

    \b
    Examples:
      dvault remote du origin
      dvault remote du origin --by age
      dvault remote du origin --policy '--keep-daily 7 --keep-weekly 5' --json
    """
    from dvault.ops.remotes import remote_usage  # deferred: session pulls in blake3

    report = remote_usage(repo, name, policy)
    for problem in report.problems:
        inv.out.problem(problem)
    if as_json:
        inv.out.json({"by": by, **report.to_json()})
        return
    _show_usage(inv, report, by)


def _show_usage(inv: Invocation, report: UsageReport, by: str) -> None:
    inv.out.data("remote ", report.remote, f": {report.packs} packs, {_size(report.pack_bytes)}")
    inv.out.data(f"  live (a ref needs it)   {_size(report.live):>10}")
    inv.out.data(f"  shared by several refs  {_size(report.shared):>10}")
    if report.former:
        inv.out.data(f"  earlier ref values      {_size(report.former):>10}")
    inv.out.data(f"  unreferenced            {_size(report.unreferenced):>10}")
    if report.missing:
        inv.out.data(f"  missing objects         {report.missing:>10}")
    if by == "age":
        inv.out.data("by age of the newest commit that needs them:")
        for label, size in report.ages:
            inv.out.data(f"  {label:22} {_size(size):>10}")
    else:
        prefix = "refs/heads/" if by == "branch" else "refs/tags/"
        inv.out.data(f"by {by} (reach: with its history; own: no other ref needs it):")
        for ref in report.refs:
            if ref.ref.startswith(prefix):
                shown = ref.ref[len(prefix) :]
                inv.out.data(
                    "  ",
                    shown,
                    f"  reach {_size(ref.reach)}, own {_size(ref.own)}, {ref.commits} commits",
                )
    if report.released is not None:
        _show_release(inv, "released by forget, awaiting prune:", report.released)
    if report.erased is not None:
        e = report.erased
        inv.out.data(
            f"erased by {e.redactions} redaction(s), awaiting prune: {e.stored} of "
            f"{e.objects} objects still stored, {_size(e.bytes)}"
        )
    for plan in report.plans:
        planned = datetime.fromtimestamp(plan.time_ns // 10**9, UTC).strftime("%Y-%m-%d %H:%M")
        due = datetime.fromtimestamp(plan.due_ns // 10**9, UTC).strftime("%Y-%m-%d %H:%M")
        state = (
            f"due {due} UTC with the default --grace 1h"
            if plan.trusted
            else "not signed by a trusted key: prune never executes it"
        )
        inv.out.data(
            f"prune plan {plan.seq} (planned {planned} UTC): {plan.packs} packs, "
            f"{_size(plan.bytes)} to delete; {state}"
        )
    if report.policy is not None:
        _show_release(inv, f"policy {report.policy.policy}:", report.policy)
    if report.locks is None:
        inv.out.data("locked: this storage has no retention lock")
        return
    inv.out.data("locked (Object Lock, by retain-until day):")
    for group in report.locks:
        until = (
            f"until {group.until} {group.mode or ''}"
            if group.until
            else "no lock reported (s3:GetObjectRetention shows it)"
        )
        inv.out.data(f"  {until:30} {group.packs} packs  {_size(group.bytes)}")


def _show_release(inv: Invocation, title: str, p: PolicyUsage) -> None:
    inv.out.data(title)
    inv.out.data(
        f"  keeps {p.kept} commits, releases {p.released}; frees {_size(p.frees)}: "
        f"{p.whole_packs} whole packs ({_size(p.whole_bytes)}), {p.partial_packs} packs "
        f"repacked ({_size(p.partial_live)} live); the storage loses {_size(p.storage_frees)}"
    )


def _valid_label(label: str | None = None, **_: object) -> None:
    if label is not None and (len(label) > 64 or not label.isprintable()):
        raise UsageError("--label must be at most 64 printable characters")


@with_repository(check=_valid_label)
def passphrase_add(
    inv: Invocation,
    repo: Repo,
    name: Annotated[str, typer.Argument(help="Remote name.")],
    label: Annotated[
        str | None, typer.Option(help="A note stored in clear with the slot, e.g. ci.")
    ] = None,
    kdf_cost: Annotated[
        int | None, typer.Option(help="scrypt cost as log2(n), 16-20 (default 17).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a passphrase: unlock with a current one (DVAULT_PASSPHRASE or asked), then give
    the new one (DVAULT_NEW_PASSPHRASE or asked twice). Old passphrases keep working until
    an administrator deletes their slot on the storage.

    \b
    Examples:
      dvault remote passphrase add origin --label ci
      DVAULT_PASSPHRASE=old DVAULT_NEW_PASSPHRASE=new dvault remote passphrase add origin
    """
    # deferred: session pulls in blake3; keys ~7 ms of imports
    from dvault.ops.keys import add_passphrase
    from dvault.remote import keys
    from dvault.remote.session import pick_remote

    spec = pick_remote(repo, name)
    slot = add_passphrase(repo, spec, kdf_cost or keys.DEFAULT_LOG_N, label)
    if as_json:
        inv.out.json({"remote": spec.name, "slot": slot, "label": label})
        return
    inv.out.message(f"added key slot {slot} to {spec.name}; no data was re-encrypted")


@with_repository()
def passphrase_list(
    inv: Invocation,
    repo: Repo,
    name: Annotated[str, typer.Argument(help="Remote name.")],
    as_json: JsonOpt = False,
) -> None:
    """List the key slots of an encrypted remote (no passphrase needed).

    \b
    Examples:
      dvault remote passphrase list origin
      dvault remote passphrase list origin --json
    """
    # deferred: session pulls in blake3; keys ~7 ms of imports
    from dvault.ops.keys import describe_slots
    from dvault.remote.session import pick_remote

    slots = describe_slots(repo, pick_remote(repo, name))
    if as_json:
        inv.out.json(slots)
        return
    for slot in slots:
        mark = "  (opened by this clone last)" if slot["last_used_here"] else ""
        label = f"  {slot['label']}" if slot["label"] else ""
        inv.out.data(f"{slot['slot']}  {slot['created']}  cost {slot['kdf_cost']}{label}{mark}")
