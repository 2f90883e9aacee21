"""``RemoteRefLog.append_action``: a signed version 3 entry, appended past a racing push."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dvault.commitobjects import Signature
from dvault.errors import CheckFailed
from dvault.remote.directory import DirectoryBackend
from dvault.remote.logentry import MAX_ENTRY, Action, LogEntry, entry_key
from dvault.remote.reflog import RemoteRefLog

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
A, B = "a" * 64, "b" * 64
FORGET = Action(
    "forget",
    {
        "branches": ["refs/heads/main"],
        "policy": {"keep_last": 1},
        "released": [],
        "released_refs": [],
    },
)


def sign(entry: LogEntry) -> LogEntry:
    entry = dataclasses.replace(entry, signature=None)
    return dataclasses.replace(entry, signature=Signature(PUBLIC, KEY.sign(entry.signed_message())))


class Racing(DirectoryBackend):
    """A directory remote where another pusher wins the first ``races`` log positions
    this client tries to create."""

    def __init__(self, root: Path, log: RemoteRefLog | None = None, races: int = 1) -> None:
        super().__init__(root)
        self.races = races
        self.other: RemoteRefLog | None = log

    def create(self, key: str, data: bytes) -> None:
        if key.startswith("refs/log/") and self.races > 0 and self.other is not None:
            self.races -= 1
            state = self.other.load().state
            new = B if state.refs.get("refs/heads/main") == A else A
            self.other.append([("refs/heads/main", new, True)], lambda _s: None)
        super().create(key, data)


def test_append_action_retries_past_a_racing_push(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    other = RemoteRefLog(DirectoryBackend(root), tmp_path / "other.json")
    backend = Racing(root, other, races=2)
    log = RemoteRefLog(backend, tmp_path / "mine.json")
    view, entry = log.append_action(FORGET, sign, "ada")
    assert entry.seq == 2 and entry.action == FORGET and entry.updates == ()
    raw = [json.loads(DirectoryBackend(root).read(entry_key(s), MAX_ENTRY)) for s in range(3)]
    assert [r["version"] for r in raw] == [2, 2, 3]
    # a fresh reader replays all three on one chain, nothing a hole
    fresh = RemoteRefLog(DirectoryBackend(root), tmp_path / "fresh.json").load(full=True)
    assert not fresh.holes and [e.seq for e, _ in fresh.entries] == [0, 1, 2]
    assert fresh.refs == {"refs/heads/main": B} and view.refs == fresh.refs
    assert fresh.entries[2][0].signature is not None


def test_append_action_gives_up_when_always_beaten(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    other = RemoteRefLog(DirectoryBackend(root), tmp_path / "other.json")
    log = RemoteRefLog(Racing(root, other, races=100), tmp_path / "mine.json")
    with pytest.raises(CheckFailed, match="busy"):
        log.append_action(FORGET, sign, "ada")


def test_append_action_refuses_an_oversized_entry(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    log = RemoteRefLog(DirectoryBackend(root), tmp_path / "mine.json")
    big = dataclasses.replace(
        FORGET, fields={**FORGET.fields, "released": [f"{i:064x}" for i in range(70_000)]}
    )
    with pytest.raises(CheckFailed, match="larger than 4 MiB"):
        log.append_action(big, sign, "ada")
    assert not (root / "refs").exists() or not list((root / "refs").rglob("*.json"))
