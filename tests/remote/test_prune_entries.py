"""Version 3 ref-log entries (actions: forget, prune-plan, prune-done, redact) as the
decoder sees them: every byte from a remote is hostile, so an action entry that is not
signed, names an unknown kind, or hides an action in a version 2 entry is refused (a hole
for the log reader), and a plan's pack names are taken only when they are pack names."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dvault.objects import Signature, canonical_json
from dvault.remote.backend import RemoteTampered
from dvault.remote.logentry import LogEntry
from dvault.remote.reflog import GENESIS, LogState

PACK = "ab" * 32


def _entry(action: dict[str, object] | None, seq: int = 0) -> LogEntry:
    return LogEntry(seq, GENESIS, (), 1_700_000_000_000_000_000, "ada", "host", action=action)


def _signed(entry: LogEntry) -> LogEntry:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    sig = key.sign(entry.signed_message())
    return dataclasses.replace(entry, signature=Signature(public, sig))


def test_a_signed_action_entry_round_trips_as_version_3() -> None:
    entry = _signed(_entry({"kind": "prune-plan", "delete": [PACK], "added": []}))
    raw = entry.encode()
    assert b'"version":3' in raw
    assert LogEntry.decode(raw, "test") == entry


@pytest.mark.parametrize(
    "action",
    [{"kind": "delete-everything"}, {"kind": 3}, {"no": "kind"}],
)
def test_an_unknown_action_is_refused(action: dict[str, object]) -> None:
    with pytest.raises(RemoteTampered, match="not a valid ref-log entry"):
        LogEntry.decode(_signed(_entry(action)).encode(), "test")


def test_an_unsigned_action_entry_is_refused() -> None:
    raw = _entry({"kind": "prune-plan", "delete": [PACK], "added": []}).encode()
    with pytest.raises(RemoteTampered, match="must be signed"):
        LogEntry.decode(raw, "test")


def test_an_action_in_a_version_2_entry_or_an_empty_version_2_is_refused() -> None:
    value = {
        "action": {"kind": "forget", "released": []},
        "host": "h",
        "prev": GENESIS,
        "seq": 0,
        "time_ns": 1,
        "updates": [],
        "user": "u",
        "version": 2,
    }
    with pytest.raises(RemoteTampered):
        LogEntry.decode(canonical_json(value), "test")
    del value["action"]
    with pytest.raises(RemoteTampered, match="updates empty"):
        LogEntry.decode(canonical_json(value), "test")


def test_replay_tracks_open_plans_and_takes_only_pack_names() -> None:
    state = LogState()
    plan = _entry({"kind": "prune-plan", "delete": [PACK, "../../etc", 7], "added": []})
    state.apply(plan, "0" * 64, "test")
    assert state.planned == {PACK: 0}
    assert LogState.from_json(state.to_json()).planned == {PACK: 0}
    done = _entry({"kind": "prune-done", "plan": 0, "deleted": [PACK]}, seq=1)
    state.apply(dataclasses.replace(done, prev="0" * 64), "1" * 64, "test")
    assert state.planned == {}
