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

from dvault.commitobjects import Signature, canonical_json
from dvault.errors import CorruptObject, DvaultError
from dvault.refs import check_ref_name
from dvault.remote.backend import RemoteTampered
from dvault.retention import Duration

LOG_PREFIX = "refs/log/"
MAX_ENTRY = 4 << 20
"""The largest ref-log entry read (4 MiB, ~20,000 ref updates in one push); a larger one
is a hole, never read. Honest pushes never write one (reflog.RemoteRefLog.append)."""
SIGNATURE_CONTEXT = b"dvault ref-log entry v1\0"
"""Prefix of the message a ref-log entry signature covers, so it can never be replayed as
a commit or tag signature (commitobjects.SIGNATURE_CONTEXT) or the reverse."""


ACTION_KINDS = ("forget", "prune-plan", "prune-done", "redact")
"""What a version 3 entry's ``action`` may be (docs/retention.md): a forget releases
commits' contents, a prune plans or records deletions, a redact erases objects."""
MAX_ACTION_IDS = 100_000
"""The most ids one action list may name (the entry's size bounds it anyway)."""
MAX_REASON = 1000
"""The longest reason a redact action carries (characters; store/erased.MAX_REASON)."""
POLICY_COUNTS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
"""The ``keep_<rule>`` counts a forget policy may carry (restic's vocabulary)."""


def entry_key(seq: int) -> str:
    return f"{LOG_PREFIX}{seq:016d}.json"


@dataclass(frozen=True)
class Action:
    """What a version 3 entry does besides moving refs: ``kind`` (one of
    :data:`ACTION_KINDS`) and its other fields, exactly as stored (a JSON object checked
    by :func:`check_action`). Fields of kind ``forget``:

    * ``branches``: the sorted, distinct branch refs (``refs/heads/...``) whose histories
      the policy was applied to (a commit is released only when the policy drops it on
      every one of them that holds it, and no other branch holds it);
    * ``policy``: ``{"keep_last": N, "keep_daily": N, ..., "keep_within": "90d",
      "keep_tags": true}`` (any subset; counts are non-negative integers);
    * ``released``: sorted, distinct commit ids (64 hex) whose contents are no longer kept;
    * ``released_refs``: sorted, distinct tag or pin refs named explicitly (their commits
      may be released, otherwise every tag and pin is kept).
    """

    kind: str
    fields: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {**self.fields, "kind": self.kind}

    @classmethod
    def from_json(cls, value: Any) -> Action:
        if not isinstance(value, dict) or value.get("kind") not in ACTION_KINDS:
            raise ValueError("unknown action")
        action = cls(value["kind"], {k: v for k, v in value.items() if k != "kind"})
        check_action(action)
        return action

    def ids(self, name: str) -> tuple[str, ...]:
        """A list-of-ids field (validated by the decoder), empty when absent."""
        value = self.fields.get(name, [])
        return tuple(value) if isinstance(value, list) else ()


def check_action(action: Action) -> None:
    """Raise ValueError unless ``action`` is well formed for its kind. Kinds other than
    ``forget`` are checked here by the parts that write them (only the shape for now)."""
    f = action.fields
    if action.kind == "forget":
        if set(f) != {"branches", "policy", "released", "released_refs"}:
            raise ValueError("forget fields")
        _check_refs(f["branches"], ("refs/heads/",))
        _check_policy(f["policy"])
        _check_ids(f["released"])
        _check_refs(f["released_refs"], ("refs/tags/", "refs/pins/"))
    elif action.kind == "redact":  # dvault/remote/redaction.py writes it
        if set(f) != {"commits", "objects", "path_hashes", "reason"}:
            raise ValueError("redact fields")
        for name in ("commits", "objects", "path_hashes"):
            _check_ids(f[name])
        if not f["objects"] and not f["path_hashes"]:
            raise ValueError("a redaction names nothing")
        reason = f["reason"]
        if not isinstance(reason, str) or not 0 < len(reason) <= MAX_REASON:
            raise ValueError("redact reason")


def _check_refs(refs: Any, prefixes: tuple[str, ...]) -> None:
    if not isinstance(refs, list) or len(refs) > MAX_ACTION_IDS:
        raise ValueError("refs not a list")
    if not all(isinstance(r, str) and r.startswith(prefixes) for r in refs):
        raise ValueError("ref of another kind")
    if refs != sorted(set(refs)):
        raise ValueError("refs repeated or unsorted")
    for ref in refs:
        _check_name(ref)


def _check_policy(policy: Any) -> None:
    if not isinstance(policy, dict):
        raise ValueError("forget policy")
    for key, value in policy.items():
        rule = key[len("keep_") :] if isinstance(key, str) and key.startswith("keep_") else ""
        if rule in POLICY_COUNTS:
            ok = _is_int(value) and 0 <= value < 1 << 31
        elif rule == "within":
            ok = isinstance(value, str) and 0 < len(value) <= 32
            Duration.parse(value if ok else "")  # PolicyError, a ValueError: refused
        elif rule == "tags":
            ok = isinstance(value, bool)
        else:
            ok = False
        if not ok:
            raise ValueError("forget policy")


def _check_ids(ids: Any) -> None:
    if not isinstance(ids, list) or len(ids) > MAX_ACTION_IDS or ids != sorted(set(ids)):
        raise ValueError("ids not a sorted, distinct list")
    if not all(_is_hex(i) for i in ids):
        raise ValueError("bad id")


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
    the pusher's ed25519 ``signature`` over :meth:`signed_message`.

    A version 3 entry is a version 2 entry with a required ``action`` (forget, prune,
    redact; :class:`Action`) and maybe no updates; it must be signed (an unsigned one is
    a hole). Whether its signer is *trusted* is each reader's decision: an action by an
    untrusted key is reported and never acted on (dvault.retention.kept). dvault before
    issue 22 reads a version 3 entry as a hole."""

    seq: int
    prev: str
    updates: tuple[RefUpdate, ...]
    time_ns: int
    user: str
    host: str
    signature: Signature | None = None
    action: Action | None = None

    def _value(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "host": self.host,
            "prev": self.prev,
            "seq": self.seq,
            "time_ns": self.time_ns,
            "updates": [u.to_json() for u in sorted(self.updates, key=lambda u: u.ref)],
            "user": self.user,
            "version": 2 if self.action is None else 3,
        }
        if self.action is not None:
            value["action"] = self.action.to_json()
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
                if (not refs and value["version"] == 2) or refs != sorted(set(refs)):
                    raise ValueError("updates empty, repeated or unsorted")
            else:
                raise ValueError("unknown version")
            action = None
            if value["version"] == 3:
                action = Action.from_json(value["action"])
                if "signature" not in value:
                    raise ValueError("an action entry must be signed")
            elif "action" in value:
                raise ValueError("an action needs version 3")
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
