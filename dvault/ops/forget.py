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
from dataclasses import dataclass, field
from typing import Any

from dvault.errors import CheckFailed, UsageError
from dvault.hashing import ObjectType
from dvault.identity import author
from dvault.remote.bulkread import read_ahead
from dvault.remote.forgetplan import ForgetRow, plan_forget
from dvault.remote.kept import Ignored, remote_kept
from dvault.remote.logentry import Action
from dvault.remote.logsign import push_signer, trusted_signers
from dvault.remote.session import Remote, pick_remote
from dvault.repository import Repository
from dvault.retention import Policy
from dvault.signing import fingerprint, load_key


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
    cache = read_ahead(remote, {ObjectType.COMMIT, ObjectType.TAG})  # one batch, not a trip each
    view, found = remote_kept(remote)
    plan = plan_forget(
        remote,
        found,
        view.state.protected,
        policy,
        time.time_ns(),
        branches,
        release_refs,
        read_raw=cache.read,
    )
    where = remote.describe()
    report = ForgetReport(where, policy, plan.branches, dry_run, plan.rows, plan.released_refs)
    report.ignored = [i.describe(where) for i in found.ignored]
    if dry_run or not (report.released or plan.newly_named):
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


__all__ = ["ForgetReport", "ForgetRow", "Ignored", "forget"]
