"""``dvault verify``: is every object the refs need present, and intact, locally or on a
remote."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_repository
from dvault.cli.output import size

if TYPE_CHECKING:
    from dvault.repo import Repo

_SIGNATURE_WORDS = {
    "good": "good",
    "bad": "bad",
    "unknown": "unknown signer",
    "unsigned": "unsigned",
}


def register(app: typer.Typer) -> None:
    app.command()(verify)


@with_repository()
def verify(
    inv: Invocation,
    repo: Repo,
    rev: Annotated[
        str | None, typer.Argument(help="Only this revision (default: all refs).")
    ] = None,
    all_refs: Annotated[bool, typer.Option("--all", help="Every branch, tag and HEAD.")] = False,
    remote: Annotated[str | None, typer.Option(help="Verify this remote instead.")] = None,
    read_data: Annotated[
        bool, typer.Option(help="Re-read and re-hash every object, not only check presence.")
    ] = False,
    sample: Annotated[
        int | None,
        typer.Option(help="Re-hash this % of the data, a rotating share (local store)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check that every object the refs need is present (and intact with --read-data).

    Exit 1 when anything is missing or damaged.

    \b
    Examples:
      dvault verify                        # the local store, every ref
      dvault verify v1 --read-data         # re-hash everything v1 needs
      dvault verify --remote origin --read-data
      dvault verify --sample 10            # nightly: a rotating 10% re-hashed
    """
    from dvault.verify import verify_local, verify_remote  # deferred: blake3

    out = inv.out
    if remote is not None:
        from dvault.remote.session import pick_remote  # deferred: blake3

        report = verify_remote(repo, pick_remote(repo, remote), read_data)
        where = f"remote {remote}"
    else:
        revs = None if all_refs or rev is None else [rev]
        report = verify_local(repo, revs, read_data, sample)
        where = "local store"
    sigs = report.signatures
    if as_json:
        out.json(
            {
                "ok": report.ok,
                "remote": remote,
                "objects": report.objects,
                "bytes_checked": report.bytes_checked,
                "problems": report.problems,
                "log": report.log,
                "remote_only": len(report.remote_only),
                "not_fetched": len(report.not_fetched),
                "redacted": len(report.redacted),
                "released": report.released_json,
                "shallow": [c.hex() for c in report.shallow],
                "signatures": {k: sigs.get(k, 0) for k in _SIGNATURE_WORDS},
            }
        )
        if not report.ok:
            raise typer.Exit(1)
        return
    for problem in report.problems:
        out.problem(problem)
    checked = f", {size(report.bytes_checked)} re-hashed" if read_data else ""
    if report.remote_only:
        checked += f" (partial clone: {len(report.remote_only)} more only on remotes)"
    if sigs.get("good") or sigs.get("bad") or sigs.get("unknown"):
        counts = [f"{sigs[k]} {label}" for k, label in _SIGNATURE_WORDS.items() if sigs.get(k)]
        checked += f"; signatures: {', '.join(counts)}"
    if report.log is not None:
        log = report.log
        out.message(
            f"{where}: ref log of {log['entries']} entries, head entry {log['head_seq']}: "
            f"{log['head']}; entries {log['describe']}"
        )
        if log["redactions"]:
            shown = ", ".join(str(seq) for seq in log["redactions"])
            out.message(f"{where}: redactions by trusted signers in entries {shown}")
        for line in log["refused_redactions"]:
            out.problem(line)
        for line in log["ignored_forgets"]:
            out.problem(line)
    if report.not_fetched:
        before = ", ".join(c.hex()[:12] for c in report.shallow)
        out.message(
            f"history before {before} not fetched ({len(report.not_fetched)} commits): "
            "run `dvault fetch --all-history` to bring it"
        )
    for line in report.released.values():
        out.message(line)
    if report.released:
        checked += (
            f"; {len(report.released)} commit(s) released by forget "
            "(history checked, contents not kept)"
        )
    if report.redacted:
        checked += f"; redacted ({len(report.redacted)} objects, erased by dvault redact)"
    if report.ok:
        out.message(f"{where}: {report.objects} objects OK{checked}")
        return
    out.problem(f"{where}: {len(report.problems)} problem(s) in {report.objects} objects")
    raise typer.Exit(1)
