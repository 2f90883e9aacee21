"""``dvault forget``: apply a retention policy to a remote's branches (restic's rules).

Nothing is deleted and no history is rewritten: forget appends one signed *forget*
entry to the remote's ref log naming the commits whose contents are no longer kept
(dvault.remote.kept; ``dvault prune`` later deletes what no kept commit needs). It
needs only the pusher credential (it appends to the log, like a push).

Which commits are released: the policy (dvault.retention) is applied to the history of
each chosen branch (every commit its tip reaches, merges included; by default every
branch that is not protected); a commit is released when the policy drops it on every
chosen branch that holds it, no other branch holds it, and it is not a branch tip, a
tag or a pin (a tag or pin named with ``--release-tag``/``--release-pin`` excepted).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dvault.errors import CheckFailed, DvaultError, UsageError
from dvault.identity import author
from dvault.objects import Commit, Tag, decode
from dvault.remote.backend import RemoteTampered
from dvault.remote.kept import HistoryCommit, Ignored, KeptSet, history, remote_kept
from dvault.remote.logentry import Action
from dvault.remote.logsign import push_signer, trusted_signers
from dvault.remote.reflog import is_protected
from dvault.remote.session import Remote, pick_remote
from dvault.repository import Repository
from dvault.retention import Candidate, Policy, apply_policy
from dvault.signing import fingerprint, load_key


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
class ForgetReport:
    remote: str
    policy: Policy
    branches: list[str]
    dry_run: bool
    rows: list[ForgetRow] = field(default_factory=list)
    released_refs: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    entry: int | None = None
    """The ref-log position of the forget entry appended (None: dry run or nothing)."""

    @property
    def released(self) -> list[str]:
        return sorted(r.id for r in self.rows if r.action == "release")

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "policy": self.policy.to_json(),
            "branches": self.branches,
            "dry_run": self.dry_run,
            "entry": self.entry,
            "released": self.released,
            "released_refs": self.released_refs,
            "commits": [r.to_json() for r in self.rows],
            "ignored": self.ignored,
        }


def forget(
    repo: Repository,
    remote_name: str | None,
    policy: Policy,
    branches: list[str] | None = None,
    release_refs: list[str] | None = None,
    dry_run: bool = False,
) -> ForgetReport:
    """Apply ``policy`` to ``branches`` (names or ``refs/heads/...``; None: every branch
    that is not protected) of a remote and append one signed forget entry."""
    if policy.empty():
        raise UsageError("give at least one --keep-* rule (forget with no policy keeps everything)")
    spec = pick_remote(repo, remote_name)
    remote = Remote(repo, spec)
    view, found = remote_kept(remote)
    where = remote.describe()
    chosen = _chosen_branches(found, branches, view.state.protected, where)
    named = [_ref_of(found, r, where) for r in release_refs or []]
    report = ForgetReport(where, policy, chosen, dry_run, released_refs=sorted(set(named)))
    report.ignored = [i.describe(where) for i in found.ignored]
    read = _reader(remote)
    heads = [b for b in found.refs if b.startswith("refs/heads/")]
    try:
        histories = {b: history(read, [found.refs[b]]) for b in heads}
    except ValueError as exc:  # a history beyond the walk's limit
        raise CheckFailed(f"remote {where}: {exc}") from None
    held_elsewhere = {c for b, h in histories.items() if b not in chosen for c in h}
    pinned: dict[str, list[str]] = {}
    tagged = _tagged(remote, found)
    unpinned = set(named) | _already_named(found)
    for commit, refs in [*found.pinned.items(), *tagged.items()]:
        for ref in refs:
            if ref not in unpinned and ref not in pinned.get(commit, []):
                pinned.setdefault(commit, []).append(ref)
    now = time.time_ns()
    dropped: dict[str, bool] = {}  # commit -> dropped on every chosen branch so far
    reasons: dict[str, list[str]] = {}
    on: dict[str, list[str]] = {}
    for branch in chosen:
        cands = [Candidate(c, h.time_ns, c in tagged) for c, h in histories[branch].items()]
        for decision in apply_policy(cands, policy, now_ns=now):
            dropped[decision.id] = dropped.get(decision.id, True) and not decision.keep
            on.setdefault(decision.id, []).append(branch)
            for reason in decision.reasons:
                if reason not in reasons.setdefault(decision.id, []):
                    reasons[decision.id].append(reason)
    times = {c: h.time_ns for hist in histories.values() for c, h in hist.items()}
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
        report.rows.append(ForgetRow(commit, times[commit], sorted(on[commit]), action, why))
    if dry_run or not (report.released or set(named) - _already_named(found)):
        return report
    _append(repo, remote, report, set(trusted_signers(repo).names))
    return report


def _append(repo: Repository, remote: Remote, report: ForgetReport, trusted: set[bytes]) -> None:
    signer = push_signer(repo, True)  # an action entry must be signed: no key, no forget
    if signer is None:  # push_signer(True) raises instead; kept for the type checker
        raise CheckFailed("forget needs a signing key (dvault key generate)")
    info, _private = load_key(None)
    if info.public not in trusted:
        raise CheckFailed(
            f"your signing key {fingerprint(info.public)} is not a trusted signer here, so "
            "its forget entry would release nothing (trust it first: docs/remotes.md, "
            '"Signed entries")'
        )
    action = Action(
        "forget",
        {
            "branches": sorted(report.branches),
            "policy": report.policy.to_json(),
            "released": sorted(report.released),
            "released_refs": report.released_refs,
        },
    )
    _view, entry = remote.log.append_action(action, signer, author(repo.config, repo.root))
    report.entry = entry.seq


def _already_named(found: KeptSet) -> set[str]:
    return {r for _e, a in found.actions if a.kind == "forget" for r in a.ids("released_refs")}


def _chosen_branches(
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


def _ref_of(found: KeptSet, name: str, where: str) -> str:
    if name.startswith(("refs/tags/", "refs/pins/")):
        ref = name
    elif f"refs/tags/{name}" in found.refs:
        ref = f"refs/tags/{name}"
    else:
        ref = f"refs/pins/{name}"
    if ref not in found.refs:
        raise UsageError(f"remote {where} has no tag or pin {name}")
    return ref


def _reader(remote: Remote) -> Callable[[str], HistoryCommit]:
    read_object = remote.log.read_object
    if read_object is None:  # an opened Remote always has one
        raise CheckFailed("cannot read commits of this remote")

    def read(oid: str) -> HistoryCommit:
        try:
            commit = decode(*read_object(bytes.fromhex(oid)))
        except DvaultError as exc:
            raise RemoteTampered(f"remote {remote.describe()}: commit {oid}: {exc}") from None
        if not isinstance(commit, Commit):
            raise RemoteTampered(f"remote {remote.describe()}: {oid} is not a commit")
        return HistoryCommit(commit.time_ns, tuple(p.hex() for p in commit.parents))

    return read


def _tagged(remote: Remote, found: KeptSet) -> dict[str, list[str]]:
    """commit -> the tags naming it (annotated tags peeled; a tag that does not read is
    reported by fetch and verify, and keeps nothing more here)."""
    read_object = remote.log.read_object
    commits: dict[str, list[str]] = {}
    for ref, target in found.refs.items():
        if not ref.startswith("refs/tags/") or read_object is None:
            continue
        oid = target
        for _depth in range(8):
            try:
                obj = decode(*read_object(bytes.fromhex(oid)))
            except DvaultError:
                break
            if isinstance(obj, Tag):
                oid = obj.object.hex()
                continue
            if isinstance(obj, Commit):
                commits.setdefault(oid, []).append(ref)
            break
    return commits


__all__ = ["ForgetReport", "ForgetRow", "Ignored", "forget"]
