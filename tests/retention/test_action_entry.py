"""Version 3 ref-log entries (an ``action``): what the decoder accepts and refuses.

Every byte read from a remote is hostile: an action entry that is unsigned, malformed,
non-canonical or has a signature that does not verify is refused (RemoteTampered), so
the log reader makes it a hole that releases nothing."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dvault.commitobjects import Signature, canonical_json
from dvault.remote.backend import RemoteTampered
from dvault.remote.logentry import Action, LogEntry, RefUpdate

C1, C2 = "a1" * 32, "b2" * 32
KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def forget(**changes: Any) -> Action:
    fields: dict[str, Any] = {
        "branches": ["refs/heads/main"],
        "policy": {"keep_daily": 7, "keep_within": "90d", "keep_tags": True},
        "released": [C1, C2],
        "released_refs": [],
    }
    fields.update(changes)
    return Action("forget", fields)


def signed(entry: LogEntry, key: Ed25519PrivateKey = KEY) -> LogEntry:
    entry = dataclasses.replace(entry, signature=None)
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return dataclasses.replace(entry, signature=Signature(public, key.sign(entry.signed_message())))


def entry(action: Action | None = None, updates: tuple[RefUpdate, ...] = ()) -> LogEntry:
    return LogEntry(3, "00" * 32, updates, 1_700_000_000_000_000_000, "ada", "gpu-01", None, action)


def test_signed_forget_round_trips() -> None:
    raw = signed(entry(forget())).encode()
    value = json.loads(raw)
    assert value["version"] == 3 and value["updates"] == []
    assert value["action"]["kind"] == "forget"
    back = LogEntry.decode(raw, "e")
    assert back.action == forget() and back.signature is not None
    assert back.action.ids("released") == (C1, C2)
    assert back.encode() == raw


def test_action_entry_may_move_refs_too() -> None:
    update = RefUpdate("refs/heads/main", None, C1)
    raw = signed(entry(forget(), (update,))).encode()
    assert LogEntry.decode(raw, "e").updates == (update,)


def test_version_2_entries_unchanged() -> None:
    plain = LogEntry(0, "00" * 32, (RefUpdate("refs/heads/main", None, C1),), 1, "a", "h")
    assert json.loads(plain.encode())["version"] == 2 and "action" not in json.loads(plain.encode())
    assert LogEntry.decode(plain.encode(), "e") == plain


def test_unsigned_action_entry_is_refused() -> None:
    with pytest.raises(RemoteTampered, match="must be signed"):
        LogEntry.decode(entry(forget()).encode(), "e")


def test_signature_covers_the_action() -> None:
    value = json.loads(signed(entry(forget())).encode())
    value["action"]["released"] = [C1]  # a forger drops one release
    with pytest.raises(RemoteTampered, match="does not verify"):
        LogEntry.decode(canonical_json(value), "e")


def _resigned(value: dict[str, Any]) -> bytes:
    """``value`` signed as it stands (a hostile but correctly signed body)."""
    unsigned = {k: v for k, v in value.items() if k != "signature"}
    from dvault.remote.logentry import SIGNATURE_CONTEXT

    sig = KEY.sign(SIGNATURE_CONTEXT + canonical_json(unsigned))
    return canonical_json({**unsigned, "signature": Signature(PUBLIC, sig).to_json()})


HOSTILE: list[tuple[str, Any]] = [
    ("no action", None),
    ("action not an object", [1]),
    ("unknown kind", {"kind": "delete-everything"}),
    ("kind not a string", {"kind": 3}),
    ("missing released", {"kind": "forget", "branches": ["refs/heads/main"], "policy": {}}),
    ("unsorted ids", forget(released=[C2, C1]).to_json()),
    ("repeated ids", forget(released=[C1, C1]).to_json()),
    ("short id", forget(released=["ab"]).to_json()),
    ("upper-case id", forget(released=[C1.upper()]).to_json()),
    ("ids not a list", forget(released=C1).to_json()),
    ("branch is a tag", forget(branches=["refs/tags/v1"]).to_json()),
    ("branch escapes", forget(branches=["refs/heads/../../etc"]).to_json()),
    ("branches unsorted", forget(branches=["refs/heads/b", "refs/heads/a"]).to_json()),
    ("branches a string", forget(branches="refs/heads/main").to_json()),
    ("unknown rule", forget(policy={"keep_forever": 1}).to_json()),
    ("negative count", forget(policy={"keep_last": -1}).to_json()),
    ("bool count", forget(policy={"keep_last": True}).to_json()),
    ("odd duration", forget(policy={"keep_within": "9 d; rm"}).to_json()),
    ("not a duration", forget(policy={"keep_within": "abc"}).to_json()),
    ("duration not text", forget(policy={"keep_within": 90}).to_json()),
    ("policy a list", forget(policy=[]).to_json()),
    ("released ref a branch", forget(released_refs=["refs/heads/x"]).to_json()),
    ("extra field", {**forget().to_json(), "note": "x"}),
]


@pytest.mark.parametrize(("label", "action"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_action_bodies_are_refused(label: str, action: Any) -> None:
    value = json.loads(signed(entry(forget())).encode())
    if action is None:
        del value["action"]
    else:
        value["action"] = action
    with pytest.raises(RemoteTampered, match="not a valid ref-log entry"):
        LogEntry.decode(_resigned(value), "e")


def test_action_in_a_version_2_entry_is_refused() -> None:
    value = json.loads(signed(entry(forget())).encode())
    value["version"] = 2
    value["updates"] = [RefUpdate("refs/heads/main", None, C1).to_json()]
    with pytest.raises(RemoteTampered, match="not a valid ref-log entry"):
        LogEntry.decode(_resigned(value), "e")


def test_empty_updates_still_refused_in_version_2() -> None:
    value = json.loads(signed(entry(forget())).encode())
    value["version"] = 2
    del value["action"]
    with pytest.raises(RemoteTampered, match="not a valid ref-log entry"):
        LogEntry.decode(_resigned(value), "e")


def test_other_kinds_decode_with_their_fields() -> None:
    action = Action("prune-plan", {"delete": [C1]})
    back = LogEntry.decode(signed(entry(action)).encode(), "e")
    assert back.action is not None and back.action.kind == "prune-plan"
    assert back.action.ids("delete") == (C1,)
