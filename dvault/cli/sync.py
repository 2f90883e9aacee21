"""``dvault push``, ``fetch``, ``pull`` and ``clone``: moving versions to and from a
remote."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import AcceptRootsOpt, Invocation, JsonOpt, with_invocation, with_repository
from dvault.cli.output import size
from dvault.errors import UsageError

if TYPE_CHECKING:
    from dvault.cli.output import Output
    from dvault.remote.backend import RemoteSpec
    from dvault.remote.fetch import FetchReport
    from dvault.remote.push import PushReport
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    for command in (push, fetch, pull, clone):
        app.command()(command)


def _remote_and_refs(repo: Repo, args: list[str]) -> tuple[RemoteSpec, list[str]]:
    """``[REMOTE] [REF...]``: the first word is a remote when one has that name."""
    from dvault.remote.session import pick_remote, remote_specs  # deferred: the store (blake3)

    if args and args[0] in remote_specs(repo):
        return pick_remote(repo, args[0]), args[1:]
    return pick_remote(repo, None), args


@with_repository()
def push(
    inv: Invocation,
    repo: Repo,
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="[REMOTE] [BRANCH or TAG or HEAD...] (default: HEAD's branch; a detached "
            "HEAD goes as its pin refs/pins/ID)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Append a non-fast-forward branch update (history stays).")
    ] = False,
    all_refs: Annotated[
        bool, typer.Option("--all", help="Push every branch and every tag.")
    ] = False,
    tags: Annotated[
        bool,
        typer.Option(
            "--tags/--no-tags",
            help="Also push the tags that point into the pushed history (default), or not.",
        ),
    ] = True,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Say which refs and packs would be sent; change nothing."),
    ] = False,
    sign: Annotated[
        bool | None,
        typer.Option(
            "--sign/--no-sign",
            help="Sign the ref-log entry with your key (default: [push] sign, else sign "
            "when you have a key).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a remote the packs it lacks, then append the ref updates to its log (each
    announced first: old -> new and the commit's subject). Pushes the current branch (or
    the refs named) and every tag that points into the history
    pushed; a tag already on the remote with another value is refused (tags never
    move). Prints the hash of the ref-log entry at the head afterwards: what
    `clone --expect` takes.

    \b
    Examples:
      dvault push                          # the current branch and its tags
      dvault push origin main v1
      dvault push --all                    # every branch and every tag
      dvault push --no-tags                # the branch only
      dvault push --dry-run                # what is not yet on the remote
      dvault push origin main --force      # the old history stays on the remote
      dvault push --sign                   # fail unless the entry can be signed
      dvault push s3 HEAD                  # detached at a pin: sent as refs/pins/ID
    """
    from dvault.remote.push import push as do_push  # deferred: the remotes (blake3)

    out = inv.out
    spec, refs = _remote_and_refs(repo, args or [])

    def announce(planned: dict[str, tuple[str | None, str]]) -> None:
        out.message(f"pushing to {spec.name}:")
        _render_updates(out, repo, planned)

    report = do_push(
        repo,
        spec,
        refs or None,
        force=force,
        sign=sign,
        tags=tags,
        all_refs=all_refs,
        dry_run=dry_run,
        announce=announce,
    )
    for line in report.erased_again:  # stderr, with --json too
        out.tell(f"warning: {line}")
    if not dry_run:
        out.note(f"{report.packs_sent} pack(s) sent, {report.packs_skipped} already on {spec.name}")
    if as_json:
        _push_json(out, spec, report)
        return
    if dry_run:
        _render_dry_run(out, repo, spec, report)
        return
    if report.up_to_date:
        out.message(f"{spec.name} is up to date")
        return
    for ref, value in report.updated.items():
        out.message(f"{ref} -> {spec.name} {value[:12]}")
    if report.packs_resumed:
        out.message(
            f"resuming the interrupted push: {report.packs_resumed} pack(s) already on the "
            f"remote, {report.packs_sent} sent"
        )
    out.message(
        f"sent {report.packs_sent} pack(s), {size(report.bytes_sent)} "
        f"({report.packs_skipped} already there)"
    )
    signed = "signed " if report.signed else ""
    out.message(f"{signed}ref-log entry {report.log_seq}: {report.log_head}")


def _push_json(out: Output, spec: RemoteSpec, report: PushReport) -> None:
    out.json(
        {
            "remote": spec.name,
            "url": spec.url,
            "dry_run": report.dry_run,
            "up_to_date": report.up_to_date,
            "updated": report.updated,
            "planned": {
                ref: {"old": old, "new": new} for ref, (old, new) in report.planned.items()
            },
            "followed_tags": report.followed,
            "packs_sent": report.packs_sent,
            "packs_skipped": report.packs_skipped,
            "bytes_sent": report.bytes_sent,
            "packs_to_send": report.packs_to_send,
            "bytes_to_send": report.bytes_to_send,
            "log": {"head_seq": report.log_seq, "head": report.log_head},
            "signed": report.signed,
        }
    )


def _render_updates(out: Output, repo: Repo, planned: dict[str, tuple[str | None, str]]) -> None:
    """One line per ref a push appends, as the dry run and the push itself say them:
    ``refs/heads/main: 1a2b3c4d5e6f -> 4d5e6f7a8b9c "add 40 labels"`` (old ``(new)``
    for a ref the remote lacks); the subject, a commit's, is escaped by Output."""
    from dvault.ops.sync import subject  # deferred: the remotes (blake3)

    for ref, (old, new) in sorted(planned.items()):
        before = old[:12] if old else "(new)"
        said = subject(repo, new)
        out.message(f"  {ref}: {before} -> {new[:12]}" + (f' "{said}"' if said is not None else ""))


def _render_dry_run(out: Output, repo: Repo, spec: RemoteSpec, report: PushReport) -> None:
    if report.up_to_date:
        out.message(f"{spec.name} is up to date; nothing would be pushed")
        return
    out.message(f"would push to {spec.name} (nothing was sent):")
    _render_updates(out, repo, report.planned)
    out.message(
        f"would send {report.packs_to_send} pack(s), {size(report.bytes_to_send)} "
        f"({report.packs_skipped} already there)"
    )


def _fetch_json(spec: RemoteSpec, report: FetchReport) -> dict[str, object]:
    return {
        "remote": spec.name,
        "url": spec.url,
        "refs": report.refs,
        "objects": report.objects,
        "bytes_received": report.bytes_received,
        "packs_downloaded": report.packs_downloaded,
        "ranges_read": report.ranges_read,
    }


@with_repository()
def fetch(
    inv: Invocation,
    repo: Repo,
    args: Annotated[
        list[str] | None, typer.Argument(help="[REMOTE] [BRANCH or TAG...] (default: all).")
    ] = None,
    all_history: Annotated[
        bool,
        typer.Option(
            "--all-history",
            help="Also bring the history behind commits fetched without it (the git hooks "
            "fetch only the pinned commit), so that verify checks every commit.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Bring in a remote's refs and the objects they need, verified on arrival.

    \b
    Examples:
      dvault fetch origin
      dvault fetch origin main v2
      dvault fetch && dvault log origin/main --oneline
      dvault fetch --all-history           # a clone made by the git hooks: all history
    """
    from dvault.remote.fetch import fetch as do_fetch  # deferred: the remotes (blake3)

    out = inv.out
    spec, refs = _remote_and_refs(repo, args or [])
    report = do_fetch(repo, spec, refs or None, all_history=all_history)
    out.note(
        f"{report.packs_downloaded} pack(s) downloaded whole, {report.ranges_read} range read(s)"
    )
    if as_json:
        out.json(_fetch_json(spec, report))
        return
    out.message(
        f"fetched {report.objects} object(s), {size(report.bytes_received)} from "
        f"{spec.name}; {len(report.refs)} ref(s)"
    )


@with_repository()
def pull(
    inv: Invocation,
    repo: Repo,
    args: Annotated[
        list[str] | None, typer.Argument(help="[REMOTE] [BRANCH] (default: the current branch).")
    ] = None,
    accept_roots: AcceptRootsOpt = False,
    ff_only: Annotated[
        bool,
        typer.Option(
            "--ff-only",
            help='Refuse a diverged branch instead of merging it (config: [pull] ff = "only").',
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch a branch and fast-forward the workspace to it; when the branch has diverged
    from the remote's, merge the remote's into it (a merge commit, as `dvault merge
    REMOTE/BRANCH` makes; conflicts are refused with nothing changed), or with --ff-only
    refuse.

    New commits that track roots this project never tracked are refused (exit 2,
    nothing written, the roots named) until you accept them with --accept-roots.

    \b
    Examples:
      dvault pull                          # the current branch from the only remote
      dvault pull origin main
      dvault pull --accept-roots           # the branch now tracks a folder you expect
      dvault pull --ff-only                # never make a merge commit
    """
    from dvault.ops.sync import pull as do_pull  # deferred: the remotes (blake3)

    out = inv.out
    spec, refs = _remote_and_refs(repo, args or [])
    if len(refs) > 1:
        raise UsageError("pull takes at most one branch")
    from dvault.ops.conflicts import MergeStopped  # deferred: the merge modules
    from dvault.ops.merge import MergeConflicts  # deferred: the merge modules

    try:
        fetched, checkout, merged = do_pull(
            repo, spec, refs[0] if refs else None, accept_roots, ff_only or None
        )
    except (MergeConflicts, MergeStopped) as exc:
        if not as_json:  # one line per path, as dvault merge says them
            for c in exc.conflicts:
                out.problem(f"conflict ({c.kind}): {os.fsdecode(c.path)}")
        raise
    if as_json:
        out.json(
            {
                **_fetch_json(spec, fetched),
                "up_to_date": checkout is None and merged is None,
                "merge": merged.commit.hex() if merged is not None else None,
                "written": checkout.written if checkout else 0,
                "removed": checkout.removed if checkout else 0,
                "bytes_written": checkout.bytes_written if checkout else 0,
            }
        )
        return
    if merged is not None:
        written = f": {checkout.written} written, {checkout.removed} removed" if checkout else ""
        out.message(
            f"pulled from {spec.name}: merged {spec.name}'s branch, merge commit "
            f"{merged.commit.hex()[:12]}{written}"
        )
    elif checkout is None:
        out.message(f"already up to date with {spec.name}")
    else:
        out.message(
            f"pulled from {spec.name}: {checkout.written} written, {checkout.removed} removed"
        )


@with_invocation(takes_paths=True)
def clone(
    inv: Invocation,
    url: Annotated[str, typer.Argument(help="A path, file:///path, or s3://bucket/prefix.")],
    directory: Annotated[Path | None, typer.Argument(help="Where to clone.")] = None,
    rev: Annotated[str | None, typer.Option(help="Branch or tag to check out.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="S3 endpoint URL.")] = None,
    region: Annotated[str | None, typer.Option(help="S3 region.")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS config profile.")] = None,
    encrypted: Annotated[
        bool, typer.Option(help="Refuse the remote unless it is encrypted.")
    ] = False,
    key_id: Annotated[
        str | None,
        typer.Option(help="Refuse the remote unless it is encrypted under this key id."),
    ] = None,
    expect: Annotated[
        str | None,
        typer.Option(
            help="Refuse the remote unless its ref log holds the entry with this hash "
            "(printed by push and verify --remote)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a project from a remote; `-- PATH...` brings only those paths' data.

    \b
    Examples:
      dvault clone /mnt/nas/dvault/vision
      dvault clone s3://ml-backups/vision vision --rev v1 -- data/labels
      dvault clone s3://data/vision --endpoint http://minio:9000
      dvault clone s3://data/vision --key-id 3f0c...  --expect 9ab1...
    """
    # deferred: the remotes (blake3)
    from dvault.ops.sync import CloneTrust
    from dvault.ops.sync import clone as do_clone

    trust = CloneTrust(
        encrypted, key_id.lower() if key_id else None, expect.lower() if expect else None
    )
    name = url.rstrip("/").rsplit("/", 1)[-1] or "dvault-clone"
    dest = inv.cwd() / (directory or Path(name))
    report = do_clone(
        inv.local_url(url),
        dest,
        rev,
        inv.paths,
        endpoint,
        region,
        profile,
        trust=trust,
        progress=inv.out.progress,
    )
    if as_json:
        inv.out.json(
            {
                "url": url,
                "directory": str(dest.resolve()),
                "rev": rev,
                "paths": inv.paths,
                "written": report.written,
                "bytes_written": report.bytes_written,
                "roots_not_tracked": report.roots_not_tracked,
            }
        )
        return
    inv.out.message(
        f"cloned {url} into {dest}: {report.written} file(s), {size(report.bytes_written)}"
    )
    if report.roots_not_tracked:
        shown = ", ".join(repr(r) for r in report.roots_not_tracked)
        inv.out.message(
            f"not tracking {shown}: the commit names these roots but holds nothing there"
        )
