"""``dvault commit`` and ``log``: recording versions and walking their history; the
commit's JSON and date as every command shows them."""

from __future__ import annotations

import datetime
from itertools import islice
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_repository
from dvault.cli.output import message_lines, title
from dvault.errors import UsageError
from dvault.graphlanes import graph_lines

if TYPE_CHECKING:
    from dvault.commitobjects import Commit
    from dvault.repo import Repo
    from dvault.signing import SignatureCheck

_SIG_MARKS = {
    "good": "good sig",
    "bad": "BAD SIG",
    "unknown": "unknown signer",
    "unsigned": "unsigned",
}


def register(app: typer.Typer) -> None:
    for command in (commit, log):
        app.command()(command)


@with_repository()
def commit(
    inv: Invocation,
    repo: Repo,
    message: Annotated[str, typer.Option("--message", "-m", help="Commit message.")],
    all_: Annotated[
        bool, typer.Option("--all", "-a", help="First stage every change under tracked roots.")
    ] = False,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Lineage metadata KEY=VALUE (repeatable).")
    ] = None,
    allow_empty: Annotated[bool, typer.Option(help="Commit even if nothing changed.")] = False,
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", help="Data this version derives from: REV or PATH@REV."),
    ] = None,
    sources: Annotated[
        list[str] | None,
        typer.Option("--source", help="Generator or pipeline code used (content is hashed)."),
    ] = None,
    sign: Annotated[bool, typer.Option("--sign", help="Sign with your ed25519 key.")] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="Signing key name (default: your only key).")
    ] = None,
    env: Annotated[
        bool,
        typer.Option(
            "--env",
            help="Also record the environment: the Python on PATH and its packages, "
            "platform, CPU/GPU, lock files, container.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Record the staged content as a new commit, with its lineage.

    \b
    Examples:
      dvault commit -m "first dataset"
      dvault commit -a -m "relabel cats" --meta labeler=alice --sign
      dvault commit -a -m "relabel cats" --input data/images@v3 --source relabel.py
      dvault commit -a -m "features v2" --env      # with Python, packages, platform
    """
    pin = repo.pin_state()  # before the commit rewrites dvault.lock
    off_pin = pin.on_commit() if pin is not None else None
    oid = repo.commit(
        message,
        all=all_,
        meta=_parse_meta(meta or []),
        allow_empty=allow_empty,
        inputs=inputs,
        sources=[str(inv.cwd() / p) for p in sources or []],
        sign=sign,
        key=key,
        notify=inv.out.message,
        env=env,
    )
    if off_pin is not None:  # said once the commit is made: a refused one changed nothing
        inv.out.tell(f"warning: {off_pin}")
    from dvault.ops.tracking import erased_again  # deferred: start-up

    for line in erased_again(repo):  # the commit holds the stage: every file in it
        inv.out.tell(f"warning: {line}")
    branch, _ = repo.head()
    if as_json:
        inv.out.json({"branch": branch, **commit_fields(oid, repo.read_commit(oid))})
        return
    inv.out.message(f"[{branch or 'detached HEAD'} {oid.hex()[:12]}] {title(message)}")


def _parse_meta(items: list[str]) -> dict[str, str]:
    meta = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--meta needs KEY=VALUE, got {item!r}")
        meta[key] = value
    return meta


def commit_fields(oid: bytes, c: Commit) -> dict[str, object]:
    return {
        "id": oid.hex(),
        "tree": c.tree.hex(),
        "parents": [p.hex() for p in c.parents],
        "author": c.author,
        "time_ns": c.time_ns,
        "message": c.message,
        "roots": c.roots,
        "meta": c.meta,
    }


def commit_json(oid: bytes, c: Commit, refs: tuple[str, ...] = ()) -> dict[str, object]:
    return {**commit_fields(oid, c), "refs": list(refs)}


def when(time_ns: int) -> str:
    """A commit's time as log and show print it: local time, with the offset."""
    return (
        datetime.datetime.fromtimestamp(time_ns / 1e9).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
    )


@with_repository(takes_paths=True)
def log(
    inv: Invocation,
    repo: Repo,
    rev: Annotated[str | None, typer.Argument(help="Start here (default HEAD).")] = None,
    oneline: Annotated[bool, typer.Option(help="One line per commit.")] = False,
    graph: Annotated[bool, typer.Option(help="Draw the commit graph.")] = False,
    as_json: JsonOpt = False,
    max_count: Annotated[int | None, typer.Option("-n", help="Show at most N commits.")] = None,
    show_signature: Annotated[
        bool, typer.Option("--show-signature", help="Check and show each commit's signature.")
    ] = False,
    all_refs: Annotated[
        bool,
        typer.Option(
            "--all", help="Every branch, tag and remote-tracking ref (origin/main), not just HEAD."
        ),
    ] = False,
) -> None:
    """Show commit history, newest first; `-- PATH` limits it to commits changing PATH.

    \b
    Examples:
      dvault log --oneline --graph
      dvault log v2 -n 5 --show-signature
      dvault log --oneline -- data/labels     # only commits that changed data/labels
      dvault log --json -n 1                  # the newest commit, for scripts
      dvault fetch && dvault log --all --oneline --graph
    """
    out = inv.out
    entries = list(islice(repo.log(rev, inv.full(inv.paths), all_refs), max_count))
    sigs: dict[bytes, SignatureCheck] = {}
    if show_signature:
        from dvault.signing import trusted_signers  # deferred: signing pulls in blake3

        signers = trusted_signers(repo.root)
        sigs = {e.id: repo.signature(e.id, signers) for e in entries}
    if as_json:
        rows = [commit_json(e.id, e.commit, e.refs) for e in entries]
        for row, e in zip(rows, entries, strict=True):
            if e.id in sigs:
                row["signature"] = sigs[e.id].to_json()
        out.json(rows)
        return
    prefixes = graph_lines(entries) if graph else None
    for i, e in enumerate(entries):
        deco = f" ({', '.join(e.refs)})" if e.refs else ""
        pre = prefixes[i] if prefixes else ("", "")
        sig = sigs.get(e.id)
        if oneline:
            mark = f" [{_SIG_MARKS[sig.status]}]" if sig is not None else ""
            out.data(
                pre[0],
                out.color(e.id.hex()[:12], "yellow"),
                f"{deco}{mark} {title(e.commit.message)}",
            )
            continue
        out.data(pre[0], out.color("commit " + e.id.hex(), "yellow"), deco)
        body = [f"Signature: {sig.describe()}"] if sig is not None else []
        body += [f"Author: {e.commit.author}", f"Date:   {when(e.commit.time_ns)}", ""]
        # indented, so no line of a message can pass for a header such as Signature:
        body += [f"    {line}" for line in message_lines(e.commit.message)]
        body.append("")
        for line in body:
            out.data(f"{pre[1]}{line}".rstrip())
