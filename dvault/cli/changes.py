"""``dvault diff`` and ``show``: what differs between versions, and what a version holds."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated

import typer

from dvault import textsafe
from dvault.cli.commits import commit_json, when
from dvault.cli.common import Invocation, JsonOpt, with_repository
from dvault.cli.output import message_lines, size
from dvault.cli.switch import warn_pin
from dvault.errors import PathNotFound, UsageError

if TYPE_CHECKING:
    from dvault.commitobjects import Commit
    from dvault.hashing import ObjectId
    from dvault.reader import Entry
    from dvault.repo import Repo
    from dvault.treeobjects import TreeEntry
    from dvault.trees import Change

_LETTERS = {"added": "A", "deleted": "D", "modified": "M"}
_LETTER_COLORS = {"added": "green", "deleted": "red", "modified": "yellow"}


def register(app: typer.Typer) -> None:
    for command in (diff, show):
        app.command()(command)


@with_repository(takes_paths=True)
def diff(
    inv: Invocation,
    repo: Repo,
    old: Annotated[str | None, typer.Argument(help="From this revision (default HEAD).")] = None,
    new: Annotated[
        str | None, typer.Argument(help="To this revision (default: the workspace).")
    ] = None,
    stat: Annotated[bool, typer.Option(help="Sizes and a summary line.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List paths that differ between two revisions, or a revision and the workspace.

    \b
    Examples:
      dvault diff                          # HEAD against the workspace
      dvault diff v1 v2 --stat -- data/labels
      dvault diff v1 --json
    """
    if new is None:  # against the workspace: say if it is not at the pinned data
        warn_pin(inv, repo)
    changes = repo.diff(old, new, inv.full(inv.paths) or None)
    if as_json:
        inv.out.json([_change_json(c) for c in changes])
    else:
        _print_changes(inv, repo, changes, stat)


@with_repository()
def show(
    inv: Invocation,
    repo: Repo,
    spec: Annotated[str, typer.Argument(help="REV, or REV:PATH for a file or folder.")] = "HEAD",
    as_json: JsonOpt = False,
) -> None:
    """Show a commit (with its changes), a folder listing, or a file's content.

    With --json, REV:FILE gives the file's id, mode and size instead of its bytes.

    \b
    Examples:
      dvault show v1                       # the commit, its metadata and changes
      dvault show v1:data/labels           # a folder listing
      dvault show v1:data/labels/00001.json > old-label.json
    """
    # deferred: trees and the reader pull in blake3
    from dvault.reader import LocalSource, Snapshot
    from dvault.trees import diff_trees

    rev, sep, path = spec.partition(":")
    oid = repo.resolve(rev or "HEAD")
    c = repo.read_commit(oid)
    if not sep:
        parent = repo.read_commit(c.parents[0]).tree if c.parents else None
        _show_commit(inv, repo, oid, c, list(diff_trees(repo.store, parent, c.tree)), as_json)
        return
    # the local store only: a path a partial clone lacks is an error, as it always was
    snap = Snapshot(LocalSource(repo, remotes=False), oid.hex())
    try:
        entry = snap.stat(path, follow_symlinks=False)
    except PathNotFound:
        raise UsageError(f"path {path!r} does not exist in {rev or 'HEAD'}") from None
    if as_json and not entry.is_dir:
        kind = "link" if entry.type == "symlink" else "file"
        fields = {"path": entry.path, "type": kind, "mode": f"{entry.mode:o}"}
        inv.out.json({"commit": oid.hex(), **fields, "size": entry.size, "id": entry.id})
        return
    content = snap.read(path, follow_symlinks=False)  # verified as it is read
    if isinstance(content, list):
        _show_folder(inv, content, as_json)
        return
    with content:
        inv.out.content(iter(lambda: content.read1(1 << 20), b""))


def _show_commit(
    inv: Invocation, repo: Repo, oid: ObjectId, c: Commit, changes: list[Change], as_json: bool
) -> None:
    from dvault.environment import META_KEY as ENV_KEY  # deferred: hashing pulls in blake3

    out = inv.out
    env = repo.environment(oid)
    if as_json:
        fields = {**commit_json(oid, c), "environment": env.to_json()}
        out.json({**fields, "changes": [_change_json(x) for x in changes]})
        return
    out.data(out.color(f"commit {oid.hex()}", "yellow"))
    if len(c.parents) > 1:  # as git: a merge names its parents; changes are vs the first
        out.data("Merge:  " + " ".join(p.hex()[:12] for p in c.parents))
    out.data(f"Author: {c.author}")
    out.data(f"Date:   {when(c.time_ns)}")
    for root, kind in sorted(c.roots.items()):
        out.data(f"Root:   {root} ({kind})")
    for key, value in sorted(c.meta.items()):
        if key != ENV_KEY:  # shown below, read and checked
            out.data(f"Meta:   {key} = {json.dumps(value, ensure_ascii=False)}")
    if env.env is not None:
        for fact in env.env.details():
            out.data(f"Env:    {fact}")
    elif env.problem:
        out.data(f"Env:    refused: {env.problem}")
    out.data("")
    for line in message_lines(c.message):
        out.data(f"    {line}")
    out.data("")
    _print_changes(inv, repo, changes, stat=True)


def _show_folder(inv: Invocation, entries: list[Entry], as_json: bool) -> None:
    if as_json:
        inv.out.json(
            [{"name": e.name, "mode": f"{e.mode:o}", "size": e.size, "id": e.id} for e in entries]
        )
        return
    for e in entries:
        kind = {"directory": "tree", "symlink": "link"}.get(e.type, "file")
        name = textsafe.path(e.name) + ("/" if e.is_dir else "")
        inv.out.data(f"{e.mode:06o} {kind:4} {e.id[:12]} {e.size:>12}  {name}")


def _change_json(c: Change) -> dict[str, object]:
    def side(e: TreeEntry | None) -> dict[str, object] | None:
        if e is None:
            return None
        return {"id": e.id.hex() or None, "mode": f"{e.mode:o}", "size": e.size}

    return {"path": os.fsdecode(c.path), "status": c.status, "old": side(c.old), "new": side(c.new)}


def _print_changes(inv: Invocation, repo: Repo, changes: list[Change], stat: bool) -> None:
    out = inv.out
    added = sum(c.new.size for c in changes if c.new is not None and not c.new.is_dir)
    removed = sum(c.old.size for c in changes if c.old is not None and not c.old.is_dir)
    for c in changes:
        line = f"  {inv.shown(repo, c.path)}"
        if stat:
            old = c.old.size if c.old else 0
            new = c.new.size if c.new else 0
            line += f"  ({size(old)} -> {size(new)})"
        out.data(out.color(_LETTERS[c.status], _LETTER_COLORS[c.status]), line)
    if stat:
        counts = {k: sum(1 for c in changes if c.status == k) for k in _LETTERS}
        out.data(
            f" {len(changes)} paths changed: {counts['added']} added, {counts['modified']} "
            f"modified, {counts['deleted']} deleted; +{size(added)} -{size(removed)}"
        )
