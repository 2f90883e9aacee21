"""One ref-log entry: its canonical JSON, parsed and written here only.

Entry N is the canonical JSON object stored at ``refs/log/<N, 16 digits>.json`` (see
docs/remotes.md, "The ref log"); every byte read from a remote is hostile, so the decoder
refuses anything that is not exactly what :meth:`LogEntry.encode` writes for its fields,
names a ref a local file could not be called, or carries a signature that does not verify.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dvault.errors import CorruptObject, DvaultError
from dvault.objects import Signature, canonical_json
from dvault.refs import check_ref_name
from dvault.remote.backend import RemoteTampered

LOG_PREFIX = "refs/log/"
MAX_ENTRY = 4 << 20
"""The largest ref-log entry read (4 MiB, ~20,000 ref updates in one push); a larger one
is a hole, never read. Honest pushes never write one (reflog.RemoteRefLog.append)."""
SIGNATURE_CONTEXT = b"dvault ref-log entry v1\0"
"""Prefix of the message a ref-log entry signature covers, so it can never be replayed as
a commit or tag signature (objects.SIGNATURE_CONTEXT) or the reverse."""
ACTION_KINDS = ("forget", "prune-plan", "prune-done", "redact")
"""What a version 3 entry may record (retention and erasure; docs/retention.md). Each is
signed; whether its signer is trusted is the reader's decision, as for ref updates."""


def entry_key(seq: int) -> str:
    return f"{LOG_PREFIX}{seq:016d}.json"


@dataclass(frozen=True)
class RefUpdate:
    """One ref moving from ``old`` (None: created) to ``new`` within a log entry."""

    ref: str
    old: str | None
    new: str
    force: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"force": self.force, "new": self.new, "old": self.old, "ref": self.ref}

    @classmethod
    def from_json(cls, value: Any) -> RefUpdate:
        if not isinstance(value, dict):
            raise ValueError("update is not an object")
        update = cls(ref=value["ref"], old=value["old"], new=value["new"], force=value["force"])
        ok = (
            isinstance(update.force, bool)
            and isinstance(update.ref, str)
            and update.ref.startswith(("refs/heads/", "refs/tags/", "refs/pins/"))
            and _is_hex(update.new)
            and (update.old is None or _is_hex(update.old))
        )
        if not ok:
            raise ValueError("bad field")
        _check_name(update.ref)
        return update


@dataclass(frozen=True)
class LogEntry:
    """One append to the log. Version 2 entries carry every ref of one push, so a push
    of ``main`` and ``v1`` becomes visible all at once or not at all; version 1 entries
    (one ref each, written by earlier dvault) are still read. A version 2 entry may carry
    the pusher's ed25519 ``signature`` over :meth:`signed_message`."""

    seq: int
    prev: str
    updates: tuple[RefUpdate, ...]
    time_ns: int
    user: str
    host: str
    signature: Signature | None = None
    action: dict[str, Any] | None = None
    """A version 3 entry's action (``{"kind": "forget" | "prune-plan" | "prune-done" |
    "redact", ...}``): retention and erasure records; None for a version 2 entry."""

    def _value(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "host": self.host,
            "prev": self.prev,
            "seq": self.seq,
            "time_ns": self.time_ns,
            "updates": [u.to_json() for u in sorted(self.updates, key=lambda u: u.ref)],
            "user": self.user,
            "version": 2,
        }
        if self.action is not None:
            value["action"] = self.action
            value["version"] = 3
        return value

    def encode(self) -> bytes:
        value = self._value()
        if self.signature is not None:
            value["signature"] = self.signature.to_json()
        return canonical_json(value)

    def signed_message(self) -> bytes:
        """What a signature covers: a fixed context and the entry without its signature
        (so signing adds the field without changing what was signed)."""
        return SIGNATURE_CONTEXT + canonical_json(self._value())

    @classmethod
    def decode(cls, raw: bytes, where: str) -> LogEntry:
        try:
            value = json.loads(raw)
            if not isinstance(value, dict) or canonical_json(value) != raw:
                raise ValueError("not canonical")
            if not _is_int(value.get("version")):
                raise ValueError("unknown version")
            if value.get("version") == 1:
                updates: tuple[RefUpdate, ...] = (RefUpdate.from_json(value),)
            elif value.get("version") in (2, 3) and isinstance(value["updates"], list):
                updates = tuple(RefUpdate.from_json(u) for u in value["updates"])
                refs = [u.ref for u in updates]
                if refs != sorted(set(refs)) or (not refs and value["version"] == 2):
                    raise ValueError("updates empty, repeated or unsorted")
            else:
                raise ValueError("unknown version")
            action = None
            if value["version"] == 3:
                action = value["action"]
                if not isinstance(action, dict) or action.get("kind") not in ACTION_KINDS:
                    raise ValueError("unknown action")
                if "signature" not in value:
                    raise ValueError("an action entry must be signed")
            elif "action" in value:
                raise ValueError("an action in a version 1 or 2 entry")
            signature = None
            if "signature" in value:
                if value["version"] == 1:
                    raise ValueError("a version 1 entry carries no signature")
                signature = Signature.from_json(value["signature"], "ref-log entry")
            entry = cls(
                seq=value["seq"],
                prev=value["prev"],
                updates=updates,
                time_ns=value["time_ns"],
                user=value["user"],
                host=value["host"],
                signature=signature,
                action=action,
            )
            ok = (
                _is_int(entry.seq)
                and entry.seq >= 0
                and _is_int(entry.time_ns)
                and isinstance(entry.user, str)
                and isinstance(entry.host, str)
                and _is_hex(entry.prev)
            )
            if not ok:
                raise ValueError("bad field")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) and len(str(exc)) < 60 else ""
            detail = "" if not reason.isascii() or not reason.isprintable() else f" ({reason})"
            raise RemoteTampered(f"{where} is not a valid ref-log entry{detail}") from None
        except CorruptObject:
            raise RemoteTampered(f"{where} holds a malformed signature") from None
        if signature is not None:
            # the signature covers every other field, ones this version does not know too
            unsigned = {k: v for k, v in value.items() if k != "signature"}
            if not _verifies(signature, SIGNATURE_CONTEXT + canonical_json(unsigned)):
                raise RemoteTampered(f"{where} carries a signature that does not verify")
        return entry


def _verifies(signature: Signature, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature  # deferred: cryptography, ~30 ms to import
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(signature.key).verify(signature.sig, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _check_name(ref: str) -> None:
    """A remote ref name becomes a local file name (refs/remotes/...): refuse anything a
    local ref could not be called, so a hostile log cannot write outside .dvault/refs."""
    prefix = next(p for p in ("refs/heads/", "refs/tags/", "refs/pins/") if ref.startswith(p))
    try:
        check_ref_name(ref[len(prefix) :])
    except DvaultError:
        raise ValueError("invalid ref name") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not 1


def _is_hex(text: Any) -> bool:
    return isinstance(text, str) and len(text) == 64 and all(c in "0123456789abcdef" for c in text)
