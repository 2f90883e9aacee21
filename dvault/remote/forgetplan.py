"""Which commits a forget policy releases: the one decision ``dvault forget`` appends and
``dvault remote du --policy`` measures, so the two cannot disagree.

The policy (dvault.retention, restic's rules) is applied to the history of each chosen
branch (every commit its tip reaches, merges included; by default every branch that is
not protected). A commit is released when the policy drops it on every chosen branch that
holds it, no other branch holds it, it is not a branch tip, a tag's or a pin's commit (a
tag or pin named with ``--release-tag`` excepted), and no earlier forget released it.

Commits are read ahead in parallel (remote/bulkread.py), so a long history on S3 costs a
few batches of requests rather than one round trip per commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dvault.commitobjects import Commit, Tag
from dvault.errors import CheckFailed, DvaultError, UsageError
from dvault.hashing import ObjectType
from dvault.objects import decode
from dvault.remote.backend import RemoteTampered
from dvault.remote.kept import HistoryCommit, KeptSet, history
from dvault.remote.reflog import is_protected
from dvault.remote.session import Remote
from dvault.retention import Candidate, Policy, apply_policy


@dataclass
class ForgetRow:
    """One commit of the chosen histories and what the forget does with it."""

    id: str
    time_ns: int
    branches: list[str]
    action: str
    """``keep`` (policy, tip, tag, pin, another branch), ``release`` (this forget),
    ``released`` (an earlier forget did)."""
    reasons: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time_ns": self.time_ns,
            "branches": self.branches,
            "action": self.action,
            "reasons": self.reasons,
        }


@dataclass
class ForgetPlan:
    """What a forget with one policy would do on one remote."""

    branches: list[str]
    released_refs: list[str]
    rows: list[ForgetRow] = field(default_factory=list)
    newly_named: bool = False
    """A ``--release-tag`` not named by an earlier forget (an entry is worth appending)."""

    @property
    def released(self) -> list[str]:
        return sorted(r.id for r in self.rows if r.action == "release")


def plan_forget(
    remote: Remote,
    found: KeptSet,
    protected: tuple[str, ...] | None,
    policy: Policy,
    now_ns: int,
    branches: list[str] | None = None,
    release_refs: list[str] | None = None,
    read_raw: Callable[[bytes], tuple[ObjectType, bytes]] | None = None,
) -> ForgetPlan:
    """Apply ``policy`` to ``branches`` (None: every branch that is not protected) of the
    remote whose kept set is ``found``. ``read_raw`` reads objects (default: the ref
    log's reader, the local store first); a bad choice of branch or ref is a UsageError."""
    where = remote.describe()
    raw = read_raw or remote.log.read_object
    if raw is None:  # an opened Remote always has one
        raise CheckFailed(f"cannot read commits of remote {where}")
    chosen = chosen_branches(found, branches, protected, where)
    named = sorted({ref_of(found, r, where) for r in release_refs or []})
    earlier = already_named(found)
    plan = ForgetPlan(chosen, named, newly_named=bool(set(named) - earlier))
    read = commit_reader(raw, where)
    heads = [b for b in found.refs if b.startswith("refs/heads/")]
    try:
        histories = {b: history(read, [found.refs[b]]) for b in heads}
    except ValueError as exc:  # a history beyond the walk's limit
        raise CheckFailed(f"remote {where}: {exc}") from None
    tagged = tagged_commits(raw, found)
    plan.rows = decide(found, histories, tagged, chosen, set(named) | earlier, policy, now_ns)
    return plan


def decide(
    found: KeptSet,
    histories: dict[str, dict[str, HistoryCommit]],
    tagged: dict[str, list[str]],
    chosen: list[str],
    unpinned: set[str],
    policy: Policy,
    now_ns: int,
) -> list[ForgetRow]:
    """The pure decision: every commit of the chosen branches' histories, newest first,
    with what the forget does with it. ``unpinned``: tags and pins whose commits the
    policy may release (named now or by an earlier forget)."""
    held_elsewhere = {c for b, h in histories.items() if b not in chosen for c in h}
    pinned: dict[str, list[str]] = {}
    for commit, refs in [*found.pinned.items(), *tagged.items()]:
        for ref in refs:
            if ref not in unpinned and ref not in pinned.get(commit, []):
                pinned.setdefault(commit, []).append(ref)
    dropped: dict[str, bool] = {}  # commit -> dropped on every chosen branch so far
    reasons: dict[str, list[str]] = {}
    on: dict[str, list[str]] = {}
    for branch in chosen:
        cands = [Candidate(c, h.time_ns, c in tagged) for c, h in histories[branch].items()]
        for decision in apply_policy(cands, policy, now_ns=now_ns):
            dropped[decision.id] = dropped.get(decision.id, True) and not decision.keep
            on.setdefault(decision.id, []).append(branch)
            for reason in decision.reasons:
                if reason not in reasons.setdefault(decision.id, []):
                    reasons[decision.id].append(reason)
    times = {c: h.time_ns for hist in histories.values() for c, h in hist.items()}
    rows = []
    for commit in sorted(dropped, key=lambda c: (-times[c], c)):
        why = list(reasons.get(commit, []))
        if commit in pinned:
            why += [f"is {ref}" for ref in pinned[commit]]
        if commit in held_elsewhere:
            why.append("on another branch")
        if commit in found.released and commit not in pinned:
            action = "released"
        elif dropped[commit] and not why:
            action = "release"
        else:
            action = "keep"
        rows.append(ForgetRow(commit, times[commit], sorted(on[commit]), action, why))
    return rows


def already_named(found: KeptSet) -> set[str]:
    """Tags and pins an earlier trusted forget let go of (``released_refs``)."""
    return {r for _e, a in found.actions if a.kind == "forget" for r in a.ids("released_refs")}


def chosen_branches(
    found: KeptSet, branches: list[str] | None, protected: tuple[str, ...] | None, where: str
) -> list[str]:
    heads = sorted(r for r in found.refs if r.startswith("refs/heads/"))
    if branches is None:
        chosen = [b for b in heads if not is_protected(b, protected)]
        if not chosen:
            raise UsageError(
                f"remote {where} has no branch that is not protected; name one with --branch"
            )
        return chosen
    chosen = []
    for name in branches:
        ref = name if name.startswith("refs/heads/") else f"refs/heads/{name}"
        if ref not in found.refs:
            raise UsageError(f"remote {where} has no branch {name}")
        chosen.append(ref)
    return sorted(set(chosen))


def ref_of(found: KeptSet, name: str, where: str) -> str:
    if name.startswith(("refs/tags/", "refs/pins/")):
        ref = name
    elif f"refs/tags/{name}" in found.refs:
        ref = f"refs/tags/{name}"
    else:
        ref = f"refs/pins/{name}"
    if ref not in found.refs:
        raise UsageError(f"remote {where} has no tag or pin {name}")
    return ref


def commit_reader(
    raw: Callable[[bytes], tuple[ObjectType, bytes]], where: str
) -> Callable[[str], HistoryCommit]:
    def read(oid: str) -> HistoryCommit:
        try:
            commit = decode(*raw(bytes.fromhex(oid)))
        except DvaultError as exc:
            raise RemoteTampered(f"remote {where}: commit {oid}: {exc}") from None
        if not isinstance(commit, Commit):
            raise RemoteTampered(f"remote {where}: {oid} is not a commit")
        return HistoryCommit(commit.time_ns, tuple(p.hex() for p in commit.parents))

    return read


def tagged_commits(
    raw: Callable[[bytes], tuple[ObjectType, bytes]], found: KeptSet
) -> dict[str, list[str]]:
    """commit -> the tags naming it (annotated tags peeled; a tag that does not read is
    reported by fetch and verify, and keeps nothing more here)."""
    commits: dict[str, list[str]] = {}
    for ref, target in found.refs.items():
        if not ref.startswith("refs/tags/"):
            continue
        oid = target
        for _depth in range(8):
            try:
                obj = decode(*raw(bytes.fromhex(oid)))
            except DvaultError:
                break
            if isinstance(obj, Tag):
                oid = obj.object.hex()
                continue
            if isinstance(obj, Commit):
                commits.setdefault(oid, []).append(ref)
            break
    return commits
