"""Signed ref-log entries: who vouches for where a remote's refs point (git's signed pushes).

A pusher with a signing key (``dvault key generate``) signs the ref-log entry it appends:
an ed25519 signature, inside the entry, over :meth:`LogEntry.signed_message` (a fixed
context and the entry without its signature; docs/remotes.md, "Signed entries"). The entry
chains to everything before it, so a signature vouches for the whole history it extends.

A signature that does not verify makes the entry a hole for every client (bytes alone
decide it). Whether a verified key is *trusted* is each clone's decision, from the trusted
signers (:func:`trusted_signers`): ``[fetch] require-signed-log = ["main", "v*"]`` makes
fetch, pull and clone refuse a named ref whose current value was set by an entry that is
unsigned or signed by a key not trusted; ``verify --remote`` counts and lists them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dvault import config as cfg
from dvault import signing
from dvault.commitobjects import Signature
from dvault.errors import UsageError
from dvault.remote.backend import RemoteError
from dvault.remote.logentry import LogEntry
from dvault.remote.reflog import LogView
from dvault.remote.session import RemoteHome
from dvault.signing import Signers, fingerprint, ref_matches

SignEntry = Callable[[LogEntry], LogEntry]


class UntrustedLog(RemoteError):
    """A ref the clone follows was last set by an entry no trusted signer signed."""


def trusted_signers(repo: RemoteHome) -> Signers:
    """The signers this clone trusts: the single place the ref-log code asks (the source
    of trust is signing.py's decision)."""
    return signing.trusted_signers(repo.root)


def push_signer(repo: RemoteHome, sign: bool | None) -> SignEntry | None:
    """How push signs its entry: ``sign`` (``--sign``/``--no-sign``), else ``[push] sign``
    (``true``, ``false``, or ``"auto"``, the default: sign when this user has a key that
    :func:`dvault.signing.pick_key` picks without asking). None: push unsigned."""
    setting: Any = cfg.get(repo.config, "push.sign", "auto") if sign is None else sign
    if setting not in (True, False, "auto"):
        raise UsageError('push.sign in .dvault/config must be true, false or "auto"')
    if setting is False:
        return None
    if setting == "auto":
        try:
            signing.pick_key(None)
        except signing.SignatureError:
            return None  # no key, or several and none chosen: unsigned, as before
        try:
            info, private = signing.load_key(None)
        except signing.SignatureError as exc:  # asked for nothing: say why, push unsigned
            repo.warn(f"ref-log entry not signed: {exc}")
            return None
    else:
        info, private = signing.load_key(None)

    def signed(entry: LogEntry) -> LogEntry:
        unsigned = dataclasses.replace(entry, signature=None)
        sig = private.sign(unsigned.signed_message())
        return dataclasses.replace(unsigned, signature=Signature(info.public, sig))

    return signed


def required_patterns(config: dict[str, Any]) -> list[str]:
    """``[fetch] require-signed-log``: branch and tag patterns (as push.require-signed)."""
    patterns = cfg.get(config, "fetch.require-signed-log", [])
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise UsageError("fetch.require-signed-log in .dvault/config must be a list of patterns")
    return patterns


def refuse_untrusted(repo: RemoteHome, view: LogView, where: str, refs: list[str] | None) -> None:
    """Refuse (UntrustedLog, exit 3) to follow a ref named by ``fetch.require-signed-log``
    whose value was set by an entry without a good signature from a trusted signer.
    ``refs``: the refs being followed (None: all of the remote's)."""
    patterns = required_patterns(repo.config)
    if not patterns:
        return
    state = view.state
    names = set(trusted_signers(repo).names)
    for ref in sorted(state.refs if refs is None else refs):
        if ref not in state.refs or not ref_matches(ref, patterns):
            continue
        key = state.signers.get(ref)
        if key is None or bytes.fromhex(key) not in names:
            who = "an unsigned entry" if key is None else f"key {_fingerprint(key)} (not trusted)"
            raise UntrustedLog(
                f"remote {where}: {ref} was last set by {who}, and fetch.require-signed-log "
                "requires a trusted signature; not followed"
            )


def _fingerprint(key_hex: str) -> str:
    return fingerprint(bytes.fromhex(key_hex))


@dataclass
class LogSignatures:
    """What ``verify --remote`` says about the signatures of a remote's ref log."""

    good: int = 0
    untrusted: list[int] = field(default_factory=list)
    unsigned: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"good": self.good, "untrusted": self.untrusted, "unsigned": self.unsigned}

    def describe(self) -> str:
        parts = [f"{self.good} signed by trusted signers"]
        for label, seqs in (("unsigned", self.unsigned), ("untrusted", self.untrusted)):
            if seqs:
                shown = ", ".join(str(s) for s in seqs[:8]) + (", ..." if len(seqs) > 8 else "")
                parts.append(f"{len(seqs)} {label} (entries {shown})")
        return ", ".join(parts)


def audit(repo: RemoteHome, view: LogView) -> LogSignatures:
    """Classify every chain entry of a full replay by its signature."""
    names = set(trusted_signers(repo).names)
    found = LogSignatures()
    for entry, _ in view.entries:
        if entry.signature is None:
            found.unsigned.append(entry.seq)
        elif entry.signature.key in names:
            found.good += 1
        else:
            found.untrusted.append(entry.seq)
    return found
