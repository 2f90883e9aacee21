"""What a remote must keep: the kept set, computed from a full replay of its ref log.

``forget`` never deletes and never rewrites history: it appends a signed *forget* entry
naming commits whose contents (trees and data) are no longer kept (logentry.Action).
Commit objects themselves are tiny and always kept, so every chain stays verifiable.
The kept set (docs/retention.md, "Forget: the policy") is

* every branch tip, every tag and every pin (a tag or pin named in a forget entry's
  ``released_refs`` excepted),
* every commit no forget entry released.

A release is monotone: once released by a trusted forget entry, a commit stays released
(a later prune may have deleted its contents), unless it is a tip, tag or pin again.

Only entries signed by a key this clone trusts act (logsign.trusted_signers, the same
list commit signatures use): a forget entry signed by another key is reported in
:attr:`KeptSet.ignored` and releases nothing; an unsigned one is a hole already
(logentry.LogEntry.decode) and never reaches here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dvault.remote.logentry import Action, LogEntry
from dvault.remote.logsign import trusted_signers
from dvault.remote.reflog import GENESIS, LogView
from dvault.remote.session import Remote
from dvault.retention import Policy
from dvault.signing import fingerprint

KEPT_PREFIXES = ("refs/heads/", "refs/tags/", "refs/pins/")


@dataclass(frozen=True)
class Release:
    """The forget entry that released a commit: when, by whom, under which policy."""

    seq: int
    time_ns: int
    user: str
    policy: str
    branches: tuple[str, ...]

    def describe(self) -> str:
        """``released by forget on DATE by USER (policy ...)`` (user is remote text:
        callers print it through Output, which escapes it)."""
        when = datetime.fromtimestamp(self.time_ns // 10**9, UTC).strftime("%Y-%m-%d")
        return f"released by forget on {when} by {self.user} (policy {self.policy})"

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time_ns": self.time_ns,
            "user": self.user,
            "policy": self.policy,
            "branches": list(self.branches),
        }


@dataclass(frozen=True)
class Ignored:
    """An action entry that acted on nothing, and why (fixed text and a fingerprint)."""

    seq: int
    kind: str
    reason: str

    def describe(self, where: str) -> str:
        return f"remote {where}: ref-log entry {self.seq} ({self.kind}) {self.reason}; ignored"


@dataclass
class KeptSet:
    """The kept set of one remote (see the module text). ``released`` maps a commit id
    (hex) to the first trusted forget entry that released it; ``pinned`` are the commits
    kept whatever was released (tips, tags, pins: the ids the refs name, so an annotated
    tag's is its tag object, which a walk peels to its commit); ``ignored`` the action
    entries that released nothing because no trusted key signed them."""

    refs: dict[str, str] = field(default_factory=dict)
    pinned: dict[str, list[str]] = field(default_factory=dict)
    released: dict[str, Release] = field(default_factory=dict)
    ignored: list[Ignored] = field(default_factory=list)
    actions: list[tuple[LogEntry, Action]] = field(default_factory=list)
    """Every trusted action entry on the chain, oldest first (prune and redact read
    theirs from here)."""

    def is_kept(self, commit: str) -> bool:
        """Whether ``commit``'s trees and data must stay on the remote."""
        return commit in self.pinned or commit not in self.released

    def release_of(self, commit: str) -> Release | None:
        """Why ``commit``'s contents may be gone (None: they are kept)."""
        return None if self.is_kept(commit) else self.released[commit]

    def to_json(self) -> dict[str, Any]:
        return {
            "pinned": {c: sorted(refs) for c, refs in sorted(self.pinned.items())},
            "released": {c: r.to_json() for c, r in sorted(self.released.items())},
            "ignored": [{"seq": i.seq, "kind": i.kind, "reason": i.reason} for i in self.ignored],
        }


def kept(view: LogView, trusted: Collection[bytes]) -> KeptSet:
    """The kept set from ``view``, a *full* replay (``RemoteRefLog.load(full=True)``):
    an incremental view lacks the entries before this clone's last position, and
    reading one as if complete would keep what was released (or the reverse), so it is
    refused (ValueError, a programming error)."""
    if view.entries and view.entries[0][0].prev != GENESIS:
        raise ValueError("kept() needs a full replay of the ref log (load(full=True))")
    if not view.entries and view.state.refs:
        raise ValueError("kept() needs a full replay of the ref log (load(full=True))")
    found = KeptSet(refs=dict(view.state.refs))
    named: set[str] = set()
    for entry, _digest in view.entries:
        action = entry.action
        if action is None:
            continue
        signature = entry.signature
        if signature is None or signature.key not in trusted:
            who = "unsigned" if signature is None else f"key {fingerprint(signature.key)}"
            found.ignored.append(
                Ignored(entry.seq, action.kind, f"is signed by {who}, not a trusted signer")
            )
            continue
        found.actions.append((entry, action))
        if action.kind != "forget":
            continue
        policy = Policy.from_json(action.fields["policy"]).describe()
        release = Release(
            entry.seq, entry.time_ns, entry.user, policy, tuple(action.ids("branches"))
        )
        for commit in action.ids("released"):
            found.released.setdefault(commit, release)
        named.update(action.ids("released_refs"))
    for ref, commit in view.state.refs.items():
        if ref.startswith(KEPT_PREFIXES) and ref not in named:
            found.pinned.setdefault(commit, []).append(ref)
    return found


def remote_kept(remote: Remote) -> tuple[LogView, KeptSet]:
    """The full replay of ``remote``'s ref log (graph-checked, not saved: nothing moves
    this clone's verified position) and its kept set, with the signers the project
    trusts. What prune, du and redact start from."""
    view = remote.log.load(full=True)
    remote.log.check(view)
    return view, kept(view, set(trusted_signers(remote.repo).names))


@dataclass(frozen=True)
class HistoryCommit:
    """What a forget needs of a commit: when, and its parents (hex ids)."""

    time_ns: int
    parents: tuple[str, ...]


def history(
    read: Callable[[str], HistoryCommit], tips: Iterable[str], limit: int = 10_000_000
) -> dict[str, HistoryCommit]:
    """Every commit reachable from ``tips`` through parents (merges included)."""
    found: dict[str, HistoryCommit] = {}
    pending = list(tips)
    while pending:
        oid = pending.pop()
        if oid in found:
            continue
        if len(found) >= limit:
            raise ValueError(f"history larger than {limit} commits")
        found[oid] = read(oid)
        pending.extend(p for p in found[oid].parents if p not in found)
    return found
