"""What a remote's bytes are for: ``dvault remote du``.

Read-only (the reader credential suffices). Every ref of the verified ref log is followed
down to its objects (history included); each object's stored bytes (its first location in
the catalog, never more than its pack's listed size) are attributed to the refs that
reach it: a ref's *reach* counts everything it needs, its *own* bytes only what no other
ref needs, and bytes several refs need are counted once, as *shared*. Bytes in packs that
no ref reaches are *unreferenced* (an interrupted push, duplicates, pack framing).

One shared walk serves every ref: each commit carries the set of refs whose history holds
it (a bit mask propagated from the tips down the commit graph), and each commit's tree is
walked with that mask, skipping any object that already carries every bit of it (its
whole subtree does too). Walking the oldest, most shared commits first, an object is
visited about once however many tags share it. The metadata is read ahead in parallel
(remote/bulkread.py).

By age, each object counts once, at the newest commit that needs it: the bytes in the
"older than 90 days" row are what forgetting every commit older than that would free.
What awaits prune (remote/usageplan.py): the commits trusted ``forget`` entries released
(the kept set, remote/kept.py), the objects trusted redactions erased
(remote/redaction.py), and the open prune plans. A ``--policy`` is decided exactly as
``dvault forget`` decides it (remote/forgetplan.py) and measured on top of those.
Object Lock is asked of the storage, pack by pack (HeadObject), and grouped by
retain-until date.

Every number comes from the remote, so every number is bounded: an entry's bytes by its
pack's listed size, a walk that fails by one problem line while the other refs go on.
"""

from __future__ import annotations

import datetime
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dvault.commitobjects import Commit, Tag
from dvault.errors import DvaultError, UsageError
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import decode
from dvault.reachability import Reachable, walk
from dvault.remote.backend import RemoteError
from dvault.remote.bulkread import METADATA, MetadataCache
from dvault.remote.catalog import pack_key
from dvault.remote.forgetplan import plan_forget
from dvault.remote.kept import kept
from dvault.remote.logsign import trusted_signers
from dvault.remote.redaction import erased_objects
from dvault.remote.reflog import LogView
from dvault.remote.session import Remote
from dvault.remote.usageplan import (
    Erased,
    PendingPlan,
    PolicyUsage,
    Sizes,
    erased_stored,
    estimate,
    pending_plans,
)
from dvault.retention import Policy

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
    erased: Erased | None = None
    """What trusted redactions erased that the remote still stores, awaiting prune."""
    plans: list[PendingPlan] = field(default_factory=list)
    """Open prune plans: packs named for deletion, awaiting prune's second phase."""
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
            "released": None if self.released is None else self.released.to_json(),
            "erased": None if self.erased is None else self.erased.to_json(),
            "plans": [p.to_json() for p in self.plans],
            "policy": None if self.policy is None else self.policy.to_json(),
            "problems": self.problems,
        }


def usage(
    remote: Remote, policy: Policy | None, now: datetime.datetime | None = None
) -> UsageReport:
    """Measure ``remote``: its whole ref log replayed (the forget entries and every value a
    ref ever had count) and accepted, its catalog refreshed."""
    report = UsageReport(remote.describe())
    view = remote.log.load(full=True)
    remote.refresh_catalog()
    cache = MetadataCache(remote)
    cache.load(METADATA)  # every walk below reads from memory
    cache.attach()
    remote.log.accept(view)
    catalog = remote.catalog
    report.problems += [
        f"packs/{name}.pack cannot be read ({why})" for name, why in sorted(catalog.holes.items())
    ]
    report.packs = len(catalog.packs)
    report.pack_bytes = sum(catalog.packs.values())
    read = cache.read
    sizes = Sizes(remote)
    refs = sorted(view.refs.items())
    owners, commits, missing = _attribute(read, catalog.type_of, refs, report.problems)
    report.missing = len(missing)
    by_mask: dict[int, int] = {}
    for oid, mask in owners.items():
        by_mask[mask] = by_mask.get(mask, 0) + sizes.of(oid)
    per_mask = Counter(commits.values())
    walked = 0
    for mask in per_mask:
        walked |= mask
    for bit, (ref, _) in enumerate(refs):
        if not walked >> bit & 1:  # its tip did not read: a problem line already
            continue
        reach = sum(size for mask, size in by_mask.items() if mask >> bit & 1)
        count = sum(n for mask, n in per_mask.items() if mask >> bit & 1)
        report.refs.append(RefUsage(ref, reach, by_mask.get(1 << bit, 0), count))
    report.live = sum(by_mask.values())
    report.shared = sum(size for mask, size in by_mask.items() if mask & (mask - 1))
    former = _former(read, catalog.type_of, view, owners, report.problems)
    report.former = sum(sizes.of(o) for o in former.objects)
    history = [*commits, *(c for c in former.commits if c not in commits)]
    times = _commit_times(read, history)
    report.ages = _by_age(read, catalog.type_of, sizes, times, now)
    trusted = set(trusted_signers(remote.repo).names)
    found = kept(view, trusted)
    where = remote.describe()
    report.problems += [i.describe(where) for i in found.ignored]
    erased = erased_objects(view, trusted)
    redactions = sum(1 for _e, a in found.actions if a.kind == "redact")
    if erased:
        report.erased = erased_stored(remote, sizes, erased, redactions, set(times))
    report.plans = pending_plans(remote, view, trusted)
    tags = {o for o in [*owners, *former.objects] if catalog.type_of(o) == ObjectType.TAG}
    released = {bytes.fromhex(c) for c in found.released if c not in found.pinned}

    def measure(label: str, release: set[bytes], shown: set[bytes]) -> PolicyUsage:
        return estimate(
            remote,
            read,
            sizes,
            label,
            commits=list(times),
            always=tags,
            pinned=[bytes.fromhex(c) for c in found.pinned],
            released=release,
            erased=erased,
            present=[*owners, *former.objects],
            open_packs=view.state.planned,
            shown=[c.hex() for c in shown],
        )

    if released:
        report.released = measure("forget entries in the log", released, released)
    if policy is not None:
        moment = now or datetime.datetime.now(datetime.UTC)
        try:
            plan = plan_forget(
                remote,
                found,
                view.state.protected,
                policy,
                int(moment.timestamp() * 1e9),
                read_raw=read,
            )
        except (UsageError, DvaultError) as exc:
            report.problems.append(f"--policy: {exc}")
        else:
            more = {bytes.fromhex(c) for c in plan.released}
            report.policy = measure(policy.describe(), released | more, more)
    report.locks = _locks(remote, report.problems)
    return report


def _attribute(
    read: Callable[[bytes], tuple[ObjectType, bytes]],
    type_of: Callable[[bytes], ObjectType | None],
    refs: list[tuple[str, str]],
    problems: list[str],
) -> tuple[dict[ObjectId, int], dict[ObjectId, int], set[ObjectId]]:
    """(object -> bit mask of the refs reaching it, commit -> the same, missing file
    objects), in one shared walk (see the module text); a ref whose tip cannot be read
    is one problem line, and a commit that cannot be walked another."""
    owners: dict[ObjectId, int] = {}
    masks: dict[ObjectId, int] = {}
    for bit, (ref, hex_id) in enumerate(refs):
        try:
            tip = _peel(read, ObjectId(bytes.fromhex(hex_id)), owners, 1 << bit)
        except (DvaultError, ValueError) as exc:  # one bad ref never stops the rest
            problems.append(f"{ref}: {exc}")
            continue
        masks[tip] = masks.get(tip, 0) | 1 << bit
    parents, bad = _graph(read, list(masks), problems)
    for oid in _children_first(parents):
        for parent in parents[oid]:
            masks[parent] = masks.get(parent, 0) | masks[oid]
    missing: set[ObjectId] = set()
    # oldest and most shared first: later commits find their common subtrees marked
    for oid in sorted(parents, key=lambda c: -masks[c].bit_count()):
        if oid in bad:
            continue
        found = _Marking(owners, masks[oid])
        try:
            walk(read, type_of, [oid], found.marked, history=False, paths=False, found=found)
        except (DvaultError, ValueError) as exc:
            problems.append(f"commit {oid.hex()[:12]}: {exc}")
        missing.update(found.missing)
    return owners, {c: masks[c] for c in parents if c not in bad}, missing


def _peel(
    read: Callable[[bytes], tuple[ObjectType, bytes]],
    oid: ObjectId,
    owners: dict[ObjectId, int],
    bit: int,
) -> ObjectId:
    """The commit a ref names, annotated tags peeled (each tag object marked)."""
    for _depth in range(8):
        obj = decode(*read(oid))
        if isinstance(obj, Commit):
            return oid
        if not isinstance(obj, Tag):
            raise DvaultError(f"object {oid.hex()} is not a commit or a tag")
        owners[oid] = owners.get(oid, 0) | bit
        oid = ObjectId(obj.object)
    raise DvaultError("a chain of more than 8 tags")


def _graph(
    read: Callable[[bytes], tuple[ObjectType, bytes]], tips: list[ObjectId], problems: list[str]
) -> tuple[dict[ObjectId, list[ObjectId]], set[ObjectId]]:
    """(commit -> its parents, for every commit the tips reach; the ids that did not read
    as commits, each one problem line: history beyond them is not counted)."""
    parents: dict[ObjectId, list[ObjectId]] = {}
    bad: set[ObjectId] = set()
    pending = list(tips)
    while pending:
        oid = pending.pop()
        if oid in parents:
            continue
        try:
            commit = decode(*read(oid))
        except DvaultError as exc:
            problems.append(f"commit {oid.hex()}: {exc}")
            parents[oid] = []
            bad.add(oid)
            continue
        if not isinstance(commit, Commit):
            problems.append(f"object {oid.hex()} is named as a parent but is not a commit")
            parents[oid] = []
            bad.add(oid)
            continue
        parents[oid] = [ObjectId(p) for p in commit.parents]
        pending.extend(p for p in parents[oid] if p not in parents)
    return parents, bad


def _children_first(parents: dict[ObjectId, list[ObjectId]]) -> list[ObjectId]:
    """The commits ordered so each comes before its parents (Kahn's algorithm)."""
    children = dict.fromkeys(parents, 0)
    for ps in parents.values():
        for p in ps:
            children[p] += 1
    ready = [c for c, n in children.items() if n == 0]
    order = []
    while ready:
        oid = ready.pop()
        order.append(oid)
        for p in parents[oid]:
            children[p] -= 1
            if children[p] == 0:
                ready.append(p)
    return order


class _Marking(Reachable):
    """A walk's found set that marks each object it adds with the walk's ref mask."""

    def __init__(self, owners: dict[ObjectId, int], mask: int) -> None:
        super().__init__(keep_paths=False)
        self.owners, self.mask = owners, mask

    def add(self, oid: ObjectId, kind: ObjectType, path: str | None = None) -> bool:
        new = super().add(oid, kind, path)
        if new:
            self.owners[oid] = self.owners.get(oid, 0) | self.mask
        return new

    def marked(self, oid: bytes) -> bool:
        """Already marked with every ref of this walk (and so is all it reaches)."""
        return self.owners.get(ObjectId(oid), 0) & self.mask == self.mask


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


def _commit_times(
    read: Callable[[bytes], tuple[ObjectType, bytes]], commits: list[ObjectId]
) -> dict[ObjectId, int]:
    times: dict[ObjectId, int] = {}
    for oid in commits:
        try:
            commit = decode(*read(oid))
        except DvaultError:  # reported by the walk
            continue
        if isinstance(commit, Commit):
            times[oid] = commit.time_ns
    return times


def _by_age(
    read: Callable[[bytes], tuple[ObjectType, bytes]],
    type_of: Callable[[bytes], ObjectType | None],
    sizes: Sizes,
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

    def __init__(self, sizes: Sizes) -> None:
        super().__init__(keep_paths=False)
        self.sizes = sizes
        self.added = 0

    def add(self, oid: ObjectId, kind: ObjectType, path: str | None = None) -> bool:
        new = super().add(oid, kind, path)
        if new:
            self.added += self.sizes.of(oid)
        return new


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
