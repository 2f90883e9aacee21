"""``dvault branch`` and ``tag``: naming versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_repository
from dvault.cli.output import title
from dvault.errors import UsageError

if TYPE_CHECKING:
    from dvault.commitobjects import Tag
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    for command in (branch, tag):
        app.command()(command)


@with_repository()
def branch(
    inv: Invocation,
    repo: Repo,
    name: Annotated[str | None, typer.Argument(help="New branch name.")] = None,
    rev: Annotated[str | None, typer.Argument(help="Start point (default HEAD).")] = None,
    delete: Annotated[str | None, typer.Option("-d", "--delete", help="Delete a branch.")] = None,
    remotes: Annotated[
        bool,
        typer.Option(
            "-r", "--remotes", help="List the remote-tracking branches fetch brought (origin/main)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List branches, create one, or delete one; -r lists the remote-tracking branches:
    where each remote's branches were when last fetched or pushed (use them as revisions:
    `dvault log origin/main`).

    \b
    Examples:
      dvault branch                        # list; * marks the current one
      dvault branch relabel-v2 v1          # create at tag v1
      dvault branch -d relabel-v2
      dvault fetch && dvault branch -r     # origin/main, origin/exp, ...
    """
    out = inv.out
    if remotes:
        if name or delete:
            raise UsageError("branch -r lists remote-tracking branches; it takes no name")
        tracking = repo.remote_tracking()
        if as_json:
            out.json([{"name": n, "id": o.hex()} for n, o in tracking.items()])
            return
        for n, o in tracking.items():
            out.data(f"  {n:20} {o.hex()[:12]}")
        return
    if delete:
        oid = repo.delete_branch(delete)
        if as_json:
            out.json({"action": "deleted", "name": delete, "id": oid.hex()})
            return
        out.message(f"deleted branch {delete} (was {oid.hex()[:12]})")
        return
    if name:
        oid = repo.branch(name, rev)
        if as_json:
            out.json({"action": "created", "name": name, "id": oid.hex()})
            return
        out.message(f"created branch {name} at {oid.hex()[:12]}")
        return
    current, _ = repo.head()
    branches = repo.refs.branches()
    if as_json:
        out.json([{"name": n, "id": o.hex(), "current": n == current} for n, o in branches.items()])
        return
    for n, o in branches.items():
        mark = out.color("*", "green") if n == current else " "
        out.data(mark, f" {n:20} {o.hex()[:12]}")


@with_repository()
def tag(
    inv: Invocation,
    repo: Repo,
    name: Annotated[str | None, typer.Argument(help="New tag name.")] = None,
    rev: Annotated[str | None, typer.Argument(help="Commit to tag (default HEAD).")] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="Tag message.")] = "",
    as_json: JsonOpt = False,
    sign: Annotated[bool, typer.Option("--sign", help="Sign with your ed25519 key.")] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="Signing key name (default: your only key).")
    ] = None,
) -> None:
    """List tags, or create an immutable annotated tag (an existing tag never moves).

    \b
    Examples:
      dvault tag                           # list
      dvault tag v1 -m "dataset used for the baseline model" --sign
      dvault tag v0.9 3b1f0c2d9e8a
    """
    from dvault.revisions import peel  # deferred: revisions pulls in blake3

    out = inv.out
    if name:
        oid = repo.tag(name, rev, message, sign=sign, key=key)
        t = repo.read_tag(oid)
        if as_json:
            out.json(_tag_json(name, oid, t.object, t))
            return
        out.message(f"tagged {t.object.hex()[:12]} as {name}")
        return
    rows = [(n, o, peel(repo, o, n), repo.read_tag(o)) for n, o in repo.refs.tags().items()]
    if as_json:
        out.json([_tag_json(n, o, c, t) for n, o, c, t in rows])
        return
    for n, _o, c, t in rows:
        out.data(f"{n:20} ", out.color(c.hex()[:12], "yellow"), f"  {title(t.message)}")


def _tag_json(name: str, oid: bytes, commit: bytes, t: Tag) -> dict[str, object]:
    return {
        "name": name,
        "id": oid.hex(),
        "commit": commit.hex(),
        "message": t.message,
        "tagger": t.tagger,
        "time_ns": t.time_ns,
        "signed": t.signature is not None,
    }
