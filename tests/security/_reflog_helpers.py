"""Helpers for the ref-log attacks: a small project, and an attacker who writes ref-log
entries with dvault's own encoder and a backend's create-only write (all a pusher with
create-only rights can do)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from blake3 import blake3

from dvault.remote.backend import Backend, RemoteSpec, open_backend
from dvault.remote.reflog import LogEntry, RefUpdate, RemoteRefLog, entry_key
from tests.cli.helpers import Project


def project(root: Path, env: dict[str, str], remote: str, *options: str) -> Project:
    """``dvault init`` with one tracked file committed, and ``remote`` added as origin."""
    root.mkdir(parents=True)
    proj = Project(root, env)
    proj.ok("init")
    proj.write("data/a.txt", "first\n")
    proj.ok("add", "data")
    proj.ok("commit", "-m", "first")
    proj.ok("remote", "add", "origin", remote, *options)
    return proj


def commit(proj: Project, text: str) -> str:
    """Change data/a.txt and commit; returns the new commit id."""
    proj.write("data/a.txt", text)
    return proj.commit(text.strip())


def attacker(url: str, endpoint: str | None = None) -> Backend:
    """The remote as raw create-only storage (what the pusher credential opens)."""
    return open_backend(RemoteSpec("attacker", url, endpoint))


def chain_head(backend: Backend, scratch: Path) -> tuple[int, str]:
    """(last position, blake3 of the last chain entry), found with dvault's own reader."""
    state = RemoteRefLog(backend, scratch / f"attacker-{time.time_ns()}.json").load().state
    return state.seq, state.head


def forge(
    backend: Backend,
    scratch: Path,
    ref: str,
    old: str | None,
    new: str,
    force: bool = False,
    seq: int | None = None,
    prev: str | None = None,
) -> bytes:
    """Create a well-formed entry (next position, chained to the last chain entry unless
    told otherwise) with the real encoder; returns its bytes."""
    last, head = chain_head(backend, scratch)
    position = last + 1 if seq is None else seq
    entry = LogEntry(
        position,
        head if prev is None else prev,
        (RefUpdate(ref, old, new, force),),
        time.time_ns(),
        "mallory",
        "evil",
    )
    raw = entry.encode()
    backend.create(entry_key(position), raw)
    return raw


def digest(raw: bytes) -> str:
    return blake3(raw).hexdigest()


def tracking(proj: Project, branch: str = "main") -> str | None:
    """Where ``origin/<branch>`` points in a clone (None: not recorded)."""
    path = proj.root / ".dvault" / "refs" / "remotes" / "origin" / branch
    return path.read_text().strip() if path.exists() else None


def log_entries(root: Path) -> list[dict[str, object]]:
    """A directory remote's ref-log entries, decoded as plain JSON (junk skipped)."""
    found = []
    for path in sorted((root / "refs" / "log").glob("*.json")):
        try:
            found.append(json.loads(path.read_bytes()))
        except ValueError:
            continue
    return found
