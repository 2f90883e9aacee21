"""Redactions in a remote's ref log: the signed ``redact`` action, written and read here.

``dvault redact --remote NAME`` appends one version 3 entry (remote/logentry.py) with no
ref updates and the action ``{"kind": "redact", "commits": [...], "objects": [...],
"path_hashes": [...], "reason": "..."}``: the kept commits altered, the erased object ids,
blake3 of each erased path (never the path, never the data), and why; who and when are
the entry's ``user`` and ``time_ns``, vouched for by its signature. Commits are never
rewritten (docs/retention.md, "Erasure: dvault redact").

Reading: only an entry signed by a key this clone trusts (signing.trusted_signers) erases
anything; any other redact entry is reported and never acted on, so a pusher who forges
one cannot make ``prune`` delete live data. :func:`erased_objects` is what prune asks.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from blake3 import blake3

from dvault.errors import CheckFailed
from dvault.hashing import ObjectId, from_hex
from dvault.remote.backend import AlreadyExists
from dvault.remote.logentry import MAX_ENTRY, Action, LogEntry, entry_key
from dvault.remote.logsign import SignEntry, trusted_signers
from dvault.remote.reflog import MAX_APPEND_ATTEMPTS, LogView, RemoteRefLog
from dvault.remote.session import RemoteHome
from dvault.signing import fingerprint
from dvault.store import erased
from dvault.store.erased import Redaction

KIND = "redact"


def redact_action(record: Redaction) -> Action:
    """The action of one redaction (the fields :func:`logentry.check_action` accepts)."""
    return Action(
        KIND,
        {
            "commits": sorted(record.commits),
            "objects": sorted(o.hex() for o in record.objects),
            "path_hashes": sorted(record.path_hashes),
            "reason": record.reason,
        },
    )


def append_redaction(log: RemoteRefLog, record: Redaction, sign: SignEntry, user: str) -> int:
    """Append ``record`` as one signed redact entry, retrying on a race with a pusher;
    returns its position. Never appends on top of a forged log (the graph check)."""
    action = redact_action(record)
    for _attempt in range(MAX_APPEND_ATTEMPTS):
        view = log.load()
        log.check(view)
        state = view.state
        entry = sign(
            LogEntry(
                seq=state.seq + 1,
                prev=state.head,
                updates=(),
                time_ns=record.time_ns,
                user=user,
                host=socket.gethostname(),
                action=action,
            )
        )
        raw = entry.encode()
        if len(raw) > MAX_ENTRY:
            raise CheckFailed(
                f"this redaction would make a ref-log entry larger than {MAX_ENTRY >> 20} MiB; "
                "redact fewer paths at a time"
            )
        try:
            log.backend.create(entry_key(entry.seq), raw)
        except AlreadyExists:
            continue  # another writer won this position: reload and retry
        digest = blake3(raw).hexdigest()
        state.apply(entry, digest, "append")
        view.entries.append((entry, digest))
        log.accept(view)
        return entry.seq
    raise CheckFailed("remote ref log is busy (another push kept winning); try again")


@dataclass(frozen=True)
class LoggedRedaction:
    """A redact entry read from a remote's log and signed by a trusted key."""

    seq: int
    record: Redaction
    signer: str
    """The signing key's fingerprint."""


def redactions(view: LogView, trusted: set[bytes]) -> tuple[list[LoggedRedaction], list[str]]:
    """The redactions of a full replay signed by a ``trusted`` key, and one line for each
    redact entry that is not (never acted on). The decoder already refused unsigned
    version 3 entries and malformed actions (they are holes, reported by the log)."""
    found: list[LoggedRedaction] = []
    refused: list[str] = []
    for entry, _digest in view.entries:
        action = entry.action
        if action is None or action.kind != KIND:
            continue
        signature = entry.signature
        if signature is None or signature.key not in trusted:
            who = "unsigned" if signature is None else f"signed by {fingerprint(signature.key)}"
            refused.append(
                f"ref-log entry {entry.seq}: a redaction {who}, not a trusted signer; "
                "it erases nothing"
            )
            continue
        record = Redaction(
            time_ns=entry.time_ns,
            user=entry.user,
            reason=str(action.fields["reason"]),
            path_hashes=action.ids("path_hashes"),
            objects=frozenset(from_hex(o) for o in action.ids("objects")),
            commits=action.ids("commits"),
        )
        found.append(LoggedRedaction(entry.seq, record, fingerprint(signature.key)))
    return found, refused


def record_redactions(repo: RemoteHome, view: LogView) -> None:
    """Record in ``repo.dir/erased.json`` each redaction among ``view``'s entries signed by
    a trusted key, so this clone (or a reader's cache) neither fetches nor serves what it
    erased; warn about the untrusted ones. Local copies already held stay until
    ``dvault redact`` runs here (that checks them against the commits only this clone
    has)."""
    logged, refused = redactions(view, set(trusted_signers(repo).names))
    for text in refused:
        repo.warn(text)
    have = {(r.time_ns, r.objects) for r in erased.load(repo.dir)}
    for item in logged:
        if (item.record.time_ns, item.record.objects) not in have:
            erased.add(repo.dir, item.record)


def erased_objects(view: LogView, trusted: set[bytes]) -> set[ObjectId]:
    """Every object a trusted redaction in ``view`` (a full replay) erased: what prune
    deletes from the remote once retention allows (part B's prune calls this)."""
    found, _ = redactions(view, trusted)
    return {oid for logged in found for oid in logged.record.objects}


__all__ = [
    "KIND",
    "LoggedRedaction",
    "append_redaction",
    "erased_objects",
    "record_redactions",
    "redact_action",
    "redactions",
]
