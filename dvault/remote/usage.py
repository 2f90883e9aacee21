"""What a remote's bytes are for: ``dvault remote du``.

Read-only (the reader credential suffices). Every ref of the verified ref log is walked
down to its objects (history included); each object's stored bytes (its first location in
the catalog, never more than its pack's listed size) are attributed to the refs that
reach it: a ref's *reach* counts everything it needs, its *own* bytes only what no other
ref needs, and bytes several refs need are counted once, as *shared*. Bytes in packs that
no ref reaches are *unreferenced* (an interrupted push, duplicates, pack framing).

By age, each object counts once, at the newest commit that needs it: the bytes in the
"older than 90 days" row are what forgetting every commit older than that would free.
The trusted ``forget`` entries already in the log (version 3, signed by a key this
clone trusts; any other releases nothing and is reported) say what awaits a prune; a
``--policy`` is evaluated per branch on top of them (ref tips and tags' commits are always
kept, as ``forget`` keeps them) to say which commits it would release and which bytes,
whole packs and partly live packs that frees. Object Lock is asked of the storage, pack by pack
(HeadObject), and grouped by retain-until date.

Every number comes from the remote, so every number is bounded: an entry's bytes by its
pack's listed size, a walk that fails by one problem line while the other refs go on.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dvault.errors import DvaultError
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import Commit, decode
from dvault.reachability import Reachable, walk
from dvault.remote.backend import RemoteError
from dvault.remote.catalog import pack_key
from dvault.remote.logsign import trusted_signers
from dvault.remote.policy_standin import Policy, policy_keeps
from dvault.remote.reflog import LogView
from dvault.remote.session import Remote

AGES = ((7, "last 7 days"), (30, "7-30 days"), (90, "30-90 days"), (365, "90-365 days"))
OLDEST = "older than 365 days"
_UNTIL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@dataclass(frozen=True)
class RefUsage:
    ref: str
    reach: int
    """Bytes of every object the ref needs (its whole history)."""
    own: int
    """Bytes no other ref needs."""
    commits: int


@dataclass(frozen=True)
class LockGroup:
    until: str | None
    """The retain-until day (YYYY-MM-DD, UTC); None: no lock on these packs."""
    mode: str | None
    packs: int
    bytes: int


@dataclass(frozen=True)
class PolicyUsage:
    policy: str
    kept: int
    released: int
    frees: int
    """Bytes of the objects only released commits need."""
    whole_packs: int
    whole_bytes: int
    """Packs no kept commit needs at all (deleted outright by prune), and their size."""
    partial_packs: int
    partial_live: int
    """Packs partly needed (prune repacks their live bytes, ``partial_live``)."""


@dataclass
class UsageReport:
    remote: str
    packs: int = 0
    pack_bytes: int = 0
    live: int = 0
    shared: int = 0
    missing: int = 0
    refs: list[RefUsage] = field(default_factory=list)
    ages: list[tuple[str, int]] = field(default_factory=list)
    locks: list[LockGroup] | None = None
    """None: the storage has no retention locks (a directory)."""
    former: int = 0
    """Bytes only commits a ref pointed at before need (a branch deleted or force-moved):
    no ref reaches them, yet prune keeps them until a forget releases those commits."""
    released: PolicyUsage | None = None
    """What the trusted forget entries already in the log release, awaiting prune."""
    policy: PolicyUsage | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def unreferenced(self) -> int:
        return max(self.pack_bytes - self.live - self.former, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "packs": self.packs,
            "bytes": self.pack_bytes,
            "live": self.live,
            "shared": self.shared,
            "former": self.former,
            "unreferenced": self.unreferenced,
            "missing_objects": self.missing,
            "refs": [vars(r) for r in self.refs],
            "ages": [{"age": a, "bytes": b} for a, b in self.ages],
            "locks": None if self.locks is None else [vars(g) for g in self.locks],
            "released": None if self.released is None else vars(self.released),
            "policy": None if self.policy is None else vars(self.policy),
            "problems": self.problems,
        }


class _Sizes:
    """Each object's stored bytes on the remote, bounded by its pack's listed size."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote

    def of(self, oid: bytes) -> int:
        found = self.remote.catalog.locate(oid)
        if found is None:
            return 0
        pack, entry = found
        return min(entry.stored_len, self.remote.catalog.packs.get(pack, 0))


def usage(
    remote: Remote, policy: Policy | None, now: datetime.datetime | None = None
) -> UsageReport:
    """Measure ``remote``: its whole ref log replayed (the forget entries and every value a
    ref ever had count) and accepted, its catalog refreshed."""
    report = UsageReport(remote.describe())
    view = remote.log.load(full=True)
    remote.log.accept(view)
    remote.refresh_catalog()
    catalog = remote.catalog
    report.problems += [
        f"packs/{name}.pack cannot be read ({why})" for name, why in sorted(catalog.holes.items())
    ]
    report.packs = len(catalog.packs)
    report.pack_bytes = sum(catalog.packs.values())
    cache: dict[bytes, tuple[ObjectType, bytes]] = {}

    def read(oid: bytes) -> tuple[ObjectType, bytes]:
        if oid not in cache:  # metadata only (walks never read file content)
            cache[oid] = remote.read_object(oid)
        return cache[oid]

    sizes = _Sizes(remote)
    refs = sorted(view.refs.items())
    owners: dict[ObjectId, int] = {}  # object -> bit mask of the refs that reach it
    walks: dict[str, Reachable] = {}
    for bit, (ref, hex_id) in enumerate(refs):
        try:
            found = walk(read, catalog.type_of, [bytes.fromhex(hex_id)], paths=False)
        except (DvaultError, ValueError) as exc:  # one bad ref never stops the rest
            report.problems.append(f"{ref}: {exc}")
            continue
        walks[ref] = found
        report.missing += len(found.missing)
        for oid in found.objects:
            owners[oid] = owners.get(oid, 0) | (1 << bit)
    for bit, (ref, _) in enumerate(refs):
        if ref not in walks:
            continue
        found = walks[ref]
        reach = sum(sizes.of(o) for o in found.objects)
        own = sum(sizes.of(o) for o in found.objects if owners[o] == 1 << bit)
        report.refs.append(RefUsage(ref, reach, own, len(found.commits)))
    report.live = sum(sizes.of(o) for o in owners)
    report.shared = sum(sizes.of(o) for o, mask in owners.items() if mask & (mask - 1))
    former = _former(read, catalog.type_of, view, owners, report.problems)
    report.former = sum(sizes.of(o) for o in former.objects)
    times = _commit_times(read, [*walks.values(), former])
    report.ages = _by_age(read, catalog.type_of, sizes, times, now)
    plan = _Plan(remote, read, sizes, walks, times, set(owners) | set(former.objects))
    released = _released(remote, view, report.problems)
    if released:
        report.released = plan.estimate("forget entries in the log", released)
    if policy is not None:
        report.policy = plan.estimate(
            policy.text, released | _policy_releases(policy, walks, times)
        )
    report.locks = _locks(remote, report.problems)
    return report


def _former(
    read: Callable[[bytes], tuple[ObjectType, bytes]],
    type_of: Callable[[bytes], ObjectType | None],
    view: LogView,
    owners: dict[ObjectId, int],
    problems: list[str],
) -> Reachable:
    """The objects only earlier values of refs need (every value the log ever set)."""
    tips = set(view.refs.values())
    named = sorted({u.new for entry, _ in view.entries for u in entry.updates} - tips)
    found = Reachable(keep_paths=False)
    for hex_id in named:
        try:
            walk(
                read,
                type_of,
                [bytes.fromhex(hex_id)],
                lambda o: o in owners,
                paths=False,
                found=found,
            )
        except (DvaultError, ValueError) as exc:
            problems.append(f"an earlier ref value {hex_id[:12]}: {exc}")
    return found


def _released(remote: Remote, view: LogView, problems: list[str]) -> set[bytes]:
    """The commits trusted forget entries release; an entry by a key this clone does not
    trust releases nothing and is reported (issue 22, decision 1)."""
    trusted = set(trusted_signers(remote.repo).names)
    released: set[bytes] = set()
    for entry, _ in view.entries:
        if entry.action is None or entry.action.kind != "forget":
            continue
        if entry.signature is None or entry.signature.key not in trusted:
            problems.append(
                f"ref-log entry {entry.seq}: a forget by a key this clone does not trust; "
                "it releases nothing (dvault key trust)"
            )
            continue
        released.update(bytes.fromhex(h) for h in entry.action.ids("released"))
    return released


def _commit_times(
    read: Callable[[bytes], tuple[ObjectType, bytes]], walks: list[Reachable]
) -> dict[ObjectId, int]:
    times: dict[ObjectId, int] = {}
    for found in walks:
        for oid in found.commits:
            if oid not in times:
                commit = decode(*read(oid))
                assert isinstance(commit, Commit)
                times[oid] = commit.time_ns
    return times


def _by_age(
    read: Callable[[bytes], tuple[ObjectType, bytes]],
    type_of: Callable[[bytes], ObjectType | None],
    sizes: _Sizes,
    times: dict[ObjectId, int],
    now: datetime.datetime | None,
) -> list[tuple[str, int]]:
    """Bytes by the age of the newest commit that needs them (newest first, shared walk:
    an object is counted at the first commit that reaches it)."""
    moment = (now or datetime.datetime.now(datetime.UTC)).timestamp()
    rows = {label: 0 for _, label in AGES} | {OLDEST: 0}
    found = _Counting(sizes)
    for oid, time_ns in sorted(times.items(), key=lambda c: -c[1]):
        found.added = 0
        walk(read, type_of, [oid], history=False, paths=False, found=found)
        days = (moment - time_ns / 1e9) / 86400
        rows[next((name for limit, name in AGES if days < limit), OLDEST)] += found.added
    return list(rows.items())


class _Counting(Reachable):
    """A walk's found set that also adds up the bytes of what it adds (no copy of the set
    per commit)."""

    def __init__(self, sizes: _Sizes) -> None:
        super().__init__(keep_paths=False)
        self.sizes = sizes
        self.added = 0

    def add(self, oid: ObjectId, kind: ObjectType, path: str | None = None) -> bool:
        new = super().add(oid, kind, path)
        if new:
            self.added += self.sizes.of(oid)
        return new


def _policy_releases(
    policy: Policy, walks: dict[str, Reachable], times: dict[ObjectId, int]
) -> set[bytes]:
    """The commits ``policy`` (stand-in engine, policy_standin.py) drops from every branch
    holding them; commits only tags reach are never a branch policy's to release."""
    dropped: set[bytes] = set()
    kept: set[bytes] = set()
    for ref, found in walks.items():
        if ref.startswith("refs/heads/"):
            history = [(oid, times[oid]) for oid in found.commits if oid in times]
            keep = policy_keeps(history, policy)
            kept |= keep
            dropped |= {oid for oid, _ in history} - keep
    return dropped - kept


class _Plan:
    """What releasing a set of commits frees: their trees and files unless a kept commit
    needs them too; commit objects always stay (issue 22, decision 2: history stays a
    verifiable chain), and so do ref tips and tags' commits."""

    def __init__(
        self,
        remote: Remote,
        read: Callable[[bytes], tuple[ObjectType, bytes]],
        sizes: _Sizes,
        walks: dict[str, Reachable],
        times: dict[ObjectId, int],
        present: set[ObjectId],
    ) -> None:
        self.remote, self.read, self.sizes = remote, read, sizes
        self.times, self.present = times, present
        self.tips = [bytes(f.commits[0]) for f in walks.values() if f.commits]
        self.tags = [
            bytes(oid)
            for found in walks.values()
            for oid, kind in found.objects.items()
            if kind == ObjectType.TAG
        ]

    def estimate(self, label: str, released: set[bytes]) -> PolicyUsage:
        catalog = self.remote.catalog
        released = released - set(self.tips)
        kept = [oid for oid in sorted(self.times) if oid not in released]
        need = Reachable(keep_paths=False)
        for oid in [*self.tags, *self.tips, *kept]:  # tags: their objects stay too
            try:
                walk(self.read, catalog.type_of, [oid], history=False, paths=False, found=need)
            except (DvaultError, ValueError):  # reported by the walk that found it
                continue
        needed = set(need.objects) | set(self.times)  # commit objects stay
        frees = sum(self.sizes.of(o) for o in self.present if o not in needed)
        live_in: dict[str, int] = {}
        dead_in: set[str] = set()
        for oid in catalog:
            for number, (pack, _) in enumerate(catalog.locations(oid)):
                if oid in needed and number == 0:
                    live_in[pack] = live_in.get(pack, 0) + self.sizes.of(oid)
                else:  # unneeded, or a further copy: prune drops it
                    dead_in.add(pack)
        whole = [name for name in catalog.packs if name not in live_in]
        partial = [name for name in live_in if name in dead_in]
        return PolicyUsage(
            label,
            len(self.times) - len(released & set(self.times)),
            len(released & set(self.times)),
            frees,
            len(whole),
            sum(catalog.packs[n] for n in whole),
            len(partial),
            sum(live_in[n] for n in partial),
        )


def _locks(remote: Remote, problems: list[str]) -> list[LockGroup] | None:
    """Object Lock per pack, asked of the storage (never assumed), grouped by the day its
    retention ends; None when the storage has no such thing."""
    packs = sorted(remote.catalog.packs.items())
    if not packs:
        return None
    try:
        if remote.backend.retention(pack_key(packs[0][0])) is None:
            return None  # the storage has no such thing (asked once: it answers per kind)
    except RemoteError:
        pass  # it has; this pack's answer is reported below, with every other one

    def ask(name: str) -> tuple[str | None, str | None] | str:
        try:
            found = remote.backend.retention(pack_key(name))
        except RemoteError as exc:
            return str(exc)
        if found is None or found.until is None or not _UNTIL.fullmatch(found.until):
            return (None, None)
        return (found.until[:10], found.mode)

    groups: dict[tuple[str | None, str | None], list[int]] = {}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, [name for name, _ in packs]))
    for (_, size), answer in zip(packs, answers, strict=True):
        if isinstance(answer, str):
            problems.append(answer)
            continue
        group = groups.setdefault(answer, [0, 0])
        group[0] += 1
        group[1] += size
    ordered = sorted(groups.items(), key=lambda g: (g[0][0] is None, g[0][0] or ""))
    return [LockGroup(until, mode, n, size) for (until, mode), (n, size) in ordered]
