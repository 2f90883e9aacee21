"""What must survive maintenance: every commit a ref, a recent reflog entry, the stage or
the data pin reaches."""

from __future__ import annotations

import time
from collections.abc import Callable

from dvault import pins
from dvault.errors import CorruptObject
from dvault.hashing import ObjectId
from dvault.refs import HEADS, TAGS
from dvault.remote.catalog import cached_objects
from dvault.repository import Repository


def ref_label(ref: str) -> str:
    """``branch main`` for refs/heads/main, ``tag v1`` for refs/tags/v1, else the ref."""
    for prefix, kind in ((HEADS, "branch"), (TAGS, "tag")):
        if ref.startswith(prefix):
            return f"{kind} {ref[len(prefix) :]}"
    return ref


def live_roots(
    repo: Repository, keep_within_s: float | None, skip_damaged: bool = False
) -> dict[str, ObjectId]:
    """Named starting points: HEAD, branches, tags, remote-tracking refs, reflog entries
    younger than ``keep_within_s`` (None: all of them), and dvault.lock's pinned commit.

    A ref that cannot be read raises (gc must not sweep what only that ref reaches)
    unless ``skip_damaged`` (repair, which restores refs separately)."""
    roots: dict[str, ObjectId] = {}
    good, bad = repo.refs.scan()
    if bad and not skip_damaged:
        raise CorruptObject(f"{next(iter(bad.values()))}; run dvault repair")
    try:
        _, head = repo.refs.head()
        if head is not None:
            roots["HEAD"] = head
    except CorruptObject as exc:
        if not skip_damaged:
            raise CorruptObject(f"{exc}; run dvault repair") from None
    for ref, oid in good.items():
        roots[ref_label(ref)] = oid
    horizon = 0 if keep_within_s is None else time.time_ns() - int(keep_within_s * 1e9)
    logs = repo.dir / "logs"
    if logs.is_dir():
        for path in logs.rglob("*"):
            if path.is_file():
                ref = path.relative_to(logs).as_posix()
                for i, entry in enumerate(repo.refs.reflog(ref)):
                    if entry.new is not None and entry.time_ns >= horizon:
                        roots[f"reflog {ref}@{i}"] = entry.new
    pin = pins.read(repo)
    if pin is not None:
        roots["dvault.lock"] = ObjectId(bytes.fromhex(pin.commit))
    return roots


def remote_only(repo: Repository) -> Callable[[bytes], bool]:
    """For a partial clone: is this object absent here but held by a remote (as far as the
    footer caches know, offline)? Such objects are neither missing nor live data here.
    Always False in a full clone, where everything the refs reach must be local."""
    if repo.state.sparse() is None:
        return lambda _oid: False
    on_remotes = cached_objects(repo.dir)
    store = repo.store
    return lambda oid: oid in on_remotes and store.type_of(oid) is None
