"""What a prune would free, for ``dvault remote du``: a set of released commits and erased
objects in, the packs prune would delete or repack and the bytes the storage would lose
out; and the prune plans already open.

It follows prune's own rules (remote/prune.py): live are every commit and tag object, and
the trees and data of every kept commit (not released, or a tip, tag or pin), minus what a
trusted redaction erased; a pack with nothing live that no fully live pack holds goes
whole, a partly live pack is repacked (its live entries copied into one new pack) and
goes; packs an open plan already names are left to that plan. The new pack's size is
computed from the pack format (header, records, footer, trailer), so on a plain remote the
bytes the storage loses are exact; an encrypted remote's packs carry per-pack encryption
framing not counted here (docs/retention.md, "Cost visibility").
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from dvault.errors import DvaultError
from dvault.hashing import ObjectId, ObjectType
from dvault.reachability import Reachable, walk
from dvault.remote.reflog import LogView
from dvault.remote.session import Remote
from dvault.store.pack import FOOTER_ENTRY, HEADER, RECORD, TRAILER, PackEntry

DEFAULT_GRACE_NS = 3600 * 10**9
"""``dvault prune``'s default ``--grace`` (1h): when an open plan is due by default."""


class Sizes:
    """Each object's stored bytes on the remote, bounded by its pack's listed size."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote

    def of(self, oid: bytes) -> int:
        found = self.remote.catalog.locate(oid)
        if found is None:
            return 0
        pack, entry = found
        return min(entry.stored_len, self.remote.catalog.packs.get(pack, 0))


@dataclass(frozen=True)
class PolicyUsage:
    policy: str
    kept: int
    released: int
    frees: int
    """Bytes of the objects no kept commit needs any more (first copies)."""
    whole_packs: int
    whole_bytes: int
    """Packs prune would delete outright (nothing live, or only copies), and their size."""
    partial_packs: int
    partial_live: int
    """Packs partly live (prune copies their live bytes, ``partial_live``, to a new pack)."""
    storage_frees: int
    """What the storage would lose: whole and repacked packs minus the new pack."""
    commits: list[str] = field(default_factory=list)
    """The commits (hex) released: by the forget entries, or by this policy."""

    def to_json(self) -> dict[str, Any]:
        return vars(self)


@dataclass(frozen=True)
class PendingPlan:
    """An open ``prune-plan`` entry: packs named for deletion, awaiting phase 2."""

    seq: int
    time_ns: int
    packs: int
    bytes: int
    trusted: bool
    """False: no trusted key signed it, and prune will never execute it."""

    @property
    def due_ns(self) -> int:
        return self.time_ns + DEFAULT_GRACE_NS

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "due_ns": self.due_ns}


@dataclass(frozen=True)
class Erased:
    """Objects trusted redactions erased that the remote still stores (prune deletes them)."""

    redactions: int
    objects: int
    stored: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return vars(self)


def pending_plans(remote: Remote, view: LogView, trusted: Collection[bytes]) -> list[PendingPlan]:
    """The open prune plans of ``view`` (a full replay), oldest first."""
    by_seq: dict[int, list[str]] = {}
    for name, seq in view.state.planned.items():
        by_seq.setdefault(seq, []).append(name)
    entries = {e.seq: e for e, _ in view.entries if e.seq in by_seq}
    plans = []
    for seq, names in sorted(by_seq.items()):
        entry = entries.get(seq)
        if entry is None:
            continue
        signed = entry.signature is not None and entry.signature.key in trusted
        size = sum(remote.catalog.packs.get(n, 0) for n in names)
        present = sum(1 for n in names if n in remote.catalog.packs)
        plans.append(PendingPlan(seq, entry.time_ns, present, size, signed))
    return plans


def erased_stored(
    remote: Remote, sizes: Sizes, erased: set[ObjectId], redactions: int, commits: set[ObjectId]
) -> Erased:
    stored = [o for o in erased if o not in commits and remote.catalog.has(o)]
    return Erased(redactions, len(erased), len(stored), sum(sizes.of(o) for o in stored))


def estimate(
    remote: Remote,
    read: Callable[[bytes], tuple[ObjectType, bytes]],
    sizes: Sizes,
    label: str,
    *,
    commits: Collection[ObjectId],
    always: Collection[ObjectId],
    pinned: Collection[bytes],
    released: set[bytes],
    erased: Collection[bytes],
    present: Collection[ObjectId],
    open_packs: Collection[str],
    shown: list[str],
) -> PolicyUsage:
    """What a prune after releasing ``released`` would free. ``commits``: every commit of
    the history (their objects always stay); ``always``: other objects that stay (tag
    objects); ``pinned``: the ids tips, tags and pins name (their contents stay);
    ``present``: every object some ref or earlier ref value reaches."""
    catalog = remote.catalog
    released = released & set(commits)
    need = Reachable(keep_paths=False)
    history = set(commits)

    def skipped(oid: bytes) -> bool:  # erased data is not walked; a commit always is
        return oid in erased and oid not in history

    starts = [*pinned, *(c for c in sorted(commits) if c not in released)]
    for oid in starts:
        try:
            walk(read, catalog.type_of, [oid], skipped, history=False, paths=False, found=need)
        except (DvaultError, ValueError):  # reported by the walk that found it
            continue
    live = {o for o in need.objects if o not in erased or o in history}
    live |= history | set(always)
    frees = sum(sizes.of(o) for o in present if o not in live)
    dead, partial = _classify(remote, live, set(open_packs))
    whole = sum(catalog.packs[n] for n in dead)
    repacked = [e for es in partial.values() for e in es]
    new_pack = 0
    if repacked:
        new_pack = len(HEADER) + TRAILER.size
        new_pack += sum(RECORD.size + FOOTER_ENTRY.size + e.stored_len for e in repacked)
    lost = whole + sum(catalog.packs[n] for n in partial) - new_pack
    return PolicyUsage(
        label,
        len(history) - len(released),
        len(released),
        frees,
        len(dead),
        whole,
        len(partial),
        sum(e.stored_len for e in repacked),
        max(lost, 0),
        sorted(shown),
    )


def _classify(
    remote: Remote, live: set[ObjectId], exclude: set[str]
) -> tuple[list[str], dict[str, list[PackEntry]]]:
    """(packs prune would delete whole, partly live packs -> the live entries it would
    copy): prune's rule (remote/prune.py ``_classify``)."""
    catalog = remote.catalog
    entries = {name: catalog.entries_of(name) or [] for name in catalog.packs}
    full = {
        n for n, es in entries.items() if n not in exclude and es and all(e.id in live for e in es)
    }
    held = {e.id for n in full for e in entries[n]}
    dead: list[str] = []
    partial: dict[str, list[PackEntry]] = {}
    for name, es in sorted(entries.items()):
        if name in full or name in exclude:
            continue
        needed = [e for e in es if e.id in live and e.id not in held]
        if not needed:
            dead.append(name)
        else:
            partial[name] = needed
            held.update(e.id for e in needed)
    return dead, partial
