"""Prune's version 3 ref-log entries as replay sees them (the decoding of version 3
entries is part A's: tests/retention/test_action_entry.py on branch i22-a): every clone
tracks the packs open plans name, takes only pack names from a hostile plan, and forgets
a plan once a ``prune-done`` entry closes it."""

from __future__ import annotations

import dataclasses

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dvault.commitobjects import Signature
from dvault.remote.logentry import Action, LogEntry
from dvault.remote.reflog import GENESIS, LogState

PACK = "ab" * 32


def _entry(action: Action, seq: int = 0, prev: str = GENESIS) -> LogEntry:
    entry = LogEntry(seq, prev, (), 1_700_000_000_000_000_000, "ada", "host", action=action)
    key = Ed25519PrivateKey.generate()
    sig = key.sign(entry.signed_message())
    return dataclasses.replace(entry, signature=Signature(key.public_key().public_bytes_raw(), sig))


def test_a_signed_plan_round_trips_as_version_3() -> None:
    entry = _entry(Action("prune-plan", {"delete": [PACK], "added": []}))
    raw = entry.encode()
    assert b'"version":3' in raw
    assert LogEntry.decode(raw, "test") == entry


def test_replay_tracks_open_plans_and_takes_only_pack_names() -> None:
    state = LogState()
    plan = _entry(Action("prune-plan", {"delete": [PACK, "../../etc", 7], "added": []}))
    state.apply(plan, "0" * 64, "test")
    assert state.planned == {PACK: 0}
    assert LogState.from_json(state.to_json()).planned == {PACK: 0}
    done = _entry(Action("prune-done", {"plan": 0, "deleted": [PACK]}), 1, "0" * 64)
    state.apply(done, "1" * 64, "test")
    assert state.planned == {}
