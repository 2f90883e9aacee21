"""The kept set from a replayed ref log (dvault.remote.kept): who may release what."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dvault.commitobjects import Signature
from dvault.remote.kept import HistoryCommit, history, kept
from dvault.remote.logentry import Action, LogEntry, RefUpdate
from dvault.remote.reflog import GENESIS, LogState, LogView

A, B, C, D, T = ("a" * 64, "b" * 64, "c" * 64, "d" * 64, "e" * 64)
TRUSTED = Ed25519PrivateKey.generate()
STRANGER = Ed25519PrivateKey.generate()


def public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def forget(released: list[str], refs: list[str] | None = None) -> Action:
    fields: dict[str, Any] = {
        "branches": ["refs/heads/main"],
        "policy": {"keep_last": 1},
        "released": sorted(released),
        "released_refs": sorted(refs or []),
    }
    return Action("forget", fields)


class Log:
    """A replayed log built entry by entry, as RemoteRefLog.load(full=True) returns it."""

    def __init__(self) -> None:
        self.view = LogView(LogState())

    def add(
        self,
        updates: tuple[RefUpdate, ...] = (),
        action: Action | None = None,
        key: Ed25519PrivateKey | None = TRUSTED,
    ) -> None:
        state = self.view.state
        entry = LogEntry(state.seq + 1, state.head, updates, 1_765_000_000 * 10**9, "ada", "h")
        entry = dataclasses.replace(entry, action=action)
        if key is not None:
            sig = key.sign(entry.signed_message())
            entry = dataclasses.replace(entry, signature=Signature(public(key), sig))
        digest = f"{entry.seq + 1:064x}"
        state.apply(entry, digest, "test")
        self.view.entries.append((entry, digest))

    def push(self, ref: str, new: str) -> None:
        self.add((RefUpdate(ref, self.view.state.refs.get(ref), new),), key=None)


def test_released_commits_and_what_is_always_kept() -> None:
    log = Log()
    log.push("refs/heads/main", A)
    log.push("refs/tags/v1", B)
    log.push("refs/heads/main", D)
    log.add(action=forget([A, B, C]))
    found = kept(log.view, {public(TRUSTED)})
    assert not found.is_kept(C) and found.is_kept(D)
    assert found.is_kept(B)  # a tag is kept unless named
    assert found.is_kept(A) is False  # no longer a tip
    release = found.release_of(C)
    assert release is not None and release.user == "ada"
    assert release.describe() == "released by forget on 2025-12-06 by ada (policy keep-last 1)"
    log.add(action=forget([B], ["refs/tags/v1"]))
    assert not kept(log.view, {public(TRUSTED)}).is_kept(B)


def test_a_tip_again_is_kept_and_releases_are_monotone() -> None:
    log = Log()
    log.push("refs/heads/main", A)
    log.push("refs/heads/main", B)
    log.add(action=forget([A]))
    log.push("refs/heads/old", A)  # a branch made on the released commit: its tip is kept
    assert kept(log.view, {public(TRUSTED)}).is_kept(A)
    log2 = Log()
    log2.push("refs/heads/main", B)
    log2.add(action=forget([A]))
    log2.add(action=forget([]))  # a later forget that releases nothing un-releases nothing
    found = kept(log2.view, {public(TRUSTED)})
    assert not found.is_kept(A) and found.released[A].seq == 1


def test_untrusted_forget_releases_nothing_and_is_reported() -> None:
    log = Log()
    log.push("refs/heads/main", B)
    log.add(action=forget([A]), key=STRANGER)
    found = kept(log.view, {public(TRUSTED)})
    assert found.is_kept(A) and found.released == {}
    assert len(found.ignored) == 1 and found.ignored[0].seq == 1
    line = found.ignored[0].describe("origin")
    assert line.startswith("remote origin: ref-log entry 1 (forget) is signed by key ")
    assert found.actions == []


def test_an_incremental_view_is_refused() -> None:
    log = Log()
    log.push("refs/heads/main", A)
    entry, digest = log.view.entries[0]
    late = dataclasses.replace(entry, prev="1" * 64, seq=5)
    with pytest.raises(ValueError, match="full replay"):
        kept(LogView(LogState(), [(late, digest)]), set())
    with pytest.raises(ValueError, match="full replay"):
        kept(LogView(LogState(refs={"refs/heads/main": A})), set())
    assert kept(LogView(LogState()), set()).released == {}
    assert log.view.entries[0][0].prev == GENESIS


def test_history_walks_every_parent_once() -> None:
    graph = {
        D: HistoryCommit(4, (B, C)),
        B: HistoryCommit(2, (A,)),
        C: HistoryCommit(3, (A,)),
        A: HistoryCommit(1, ()),
    }
    reads: list[str] = []

    def read(oid: str) -> HistoryCommit:
        reads.append(oid)
        return graph[oid]

    assert set(history(read, [D])) == {A, B, C, D} and len(reads) == 4
    with pytest.raises(ValueError, match="larger than"):
        history(read, [D], limit=2)
