"""Helpers for the ref-log attacks: the honest owner (driven in-process through the
library: it is not under attack, and a subprocess per step would cost seconds), victims
driven through the real ``dvault`` program, and an attacker who writes ref-log entries
with dvault's own encoder and a backend's create-only write (all a pusher with
create-only rights can do)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from dvault.remote.backend import Backend, RemoteNotFound, RemoteSpec
from dvault.remote.reflog import MAX_ENTRY, LogEntry, RefUpdate, entry_key
from dvault.remote.registry import open_backend
from dvault.repo import Repo
from tests.cli.helpers import Project, base_env
from tests.remote.conftest import AWS_ENV

GIT_ID = {
    "GIT_AUTHOR_NAME": "T",
    "GIT_AUTHOR_EMAIL": "t@e",
    "GIT_COMMITTER_NAME": "T",
    "GIT_COMMITTER_EMAIL": "t@e",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def isolated_env(home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of the test's ``dvault`` processes, also applied to this process
    (author, the user's dvault directory for keys and known remotes, fake AWS keys), so
    the in-process owner and attacker see the same world."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**base_env(home), **AWS_ENV, **GIT_ID}
    for key in ("DVAULT_AUTHOR", "DVAULT_CONFIG_DIR", *AWS_ENV):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("DVAULT_SIGNING_KEY", raising=False)
    return env


class Owner:
    """An honest user's project: data/a.txt committed, ``url`` added as origin."""

    def __init__(self, root: Path, url: str, git: bool = False, **remote: Any) -> None:
        self.root = root
        root.mkdir(parents=True)
        if git:  # a git work tree: dvault.lock is written with every commit
            self.git("init", "-q", "-b", "main")
        with Repo.init(root, at_git_root=False) as repo:
            (root / "data").mkdir()
            (root / "data" / "a.txt").write_text("first\n")
            repo.add([root / "data"])
            repo.commit("first")
            repo.add_remote("origin", url, init=True, **remote)

    def commit(self, text: str) -> str:
        """Change data/a.txt and commit; returns the new commit id."""
        (self.root / "data" / "a.txt").write_text(text)
        with Repo.open(self.root) as repo:
            return repo.commit(text.strip(), all=True).hex()

    def head(self) -> str:
        with Repo.open(self.root) as repo:
            head = repo.refs.head()[1]
            assert head is not None
            return str(head.hex())

    def push(self) -> Any:
        with Repo.open(self.root) as repo:
            return repo.push()

    def git(self, *args: str) -> None:
        subprocess.run(["git", *args], cwd=self.root, check=True, env={**os.environ, **GIT_ID})


def commit(proj: Project, text: str) -> str:
    """Change data/a.txt and commit; returns the new commit id."""
    proj.write("data/a.txt", text)
    return proj.commit(text.strip())


def attacker(url: str, endpoint: str | None = None) -> Backend:
    """The remote as raw create-only storage (what the pusher credential opens)."""
    return open_backend(RemoteSpec("attacker", url, endpoint))


def chain_head(backend: Backend, scratch: Path) -> tuple[int, str]:
    """(last position, blake3 of the last entry that names its own position), as an
    attacker reading the log sees them."""
    del scratch
    last, head, seq = -1, "0" * 64, 0
    while True:
        try:
            raw = backend.read(entry_key(seq), MAX_ENTRY)
        except RemoteNotFound:
            return last, head
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if isinstance(value, dict) and value.get("seq") == seq:
            head = blake3(raw).hexdigest()
        last, seq = seq, seq + 1


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


def clone_victim(tmp_path: Path, env: dict[str, str], url: str, *options: str) -> Project:
    """A teammate's clone of ``url`` in ``tmp_path / "victim"``, made through the CLI."""
    Project(tmp_path, env).ok("clone", url, str(tmp_path / "victim"), *options)
    return Project(tmp_path / "victim", env)


def tracking(proj: Project, branch: str = "main") -> str | None:
    """Where ``origin/<branch>`` points in a clone (None: not recorded)."""
    path = proj.root / ".dvault" / "refs" / "remotes" / "origin" / branch
    return path.read_text().strip() if path.exists() else None
