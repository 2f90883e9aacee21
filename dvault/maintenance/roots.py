"""What must survive maintenance: every commit a ref, a recent reflog entry, the stage or
the data pin reaches."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from dvault.hashing import ObjectId

if TYPE_CHECKING:
    from dvault.repo import Repo


def live_roots(repo: Repo, keep_within_s: float | None) -> dict[str, ObjectId]:
    """Named starting points: HEAD, branches, tags, remote-tracking refs, reflog entries
    younger than ``keep_within_s`` (None: all of them), and dvault.lock's pinned commit."""
    from dvault import lockfile

    roots: dict[str, ObjectId] = {}
    _, head = repo.refs.head()
    if head is not None:
        roots["HEAD"] = head
    for name, oid in repo.refs.branches().items():
        roots[f"branch {name}"] = oid
    for name, oid in repo.refs.tags().items():
        roots[f"tag {name}"] = oid
    base = repo.dir / "refs" / "remotes"
    if base.is_dir():
        for path in base.rglob("*"):
            if path.is_file():
                ref = path.relative_to(repo.dir).as_posix()
                found = repo.refs.read(ref)
                if found is not None:
                    roots[ref] = found
    horizon = 0 if keep_within_s is None else time.time_ns() - int(keep_within_s * 1e9)
    logs = repo.dir / "logs"
    if logs.is_dir():
        for path in logs.rglob("*"):
            if path.is_file():
                ref = path.relative_to(logs).as_posix()
                for i, entry in enumerate(repo.refs.reflog(ref)):
                    if entry.new is not None and entry.time_ns >= horizon:
                        roots[f"reflog {ref}@{i}"] = entry.new
    pin = lockfile.read(repo)
    if pin is not None:
        roots["dvault.lock"] = ObjectId(bytes.fromhex(pin.commit))
    return roots
