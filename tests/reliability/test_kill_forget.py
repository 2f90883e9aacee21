"""``dvault forget`` on a directory remote killed at each write boundary (the ref-log
entry's create, the clone's log position) and at random times: after each kill the
remote's ref log replays with no hole and passes its graph check, the forget entry
landed whole (signed by a trusted key, releasing exactly what the policy drops) or not
at all, a re-run completes, and every commit the policy keeps is still kept and reads
back from the remote (docs/retention.md, "Crash safety"). The fault-injecting backend
(faults.py) is in tests/reliability/test_forget_faults.py.

Each round commits a batch, pushes it, and runs ``forget --keep-last 2``: the commit
that just fell out of the last two is released.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dvault.remote.kept import KeptSet, kept
from dvault.remote.logentry import LogEntry
from dvault.remote.logsign import trusted_signers
from dvault.remote.reflog import LogView
from dvault.remote.session import Remote, pick_remote
from dvault.repo import Repo
from tests.remote.prune_helpers import Project as HasRepo
from tests.remote.prune_helpers import in_env, read_back, trust_own_key

from .harness import Campaign, Project

pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:'click\.utils\.get_\w+_stream' is deprecated:DeprecationWarning"
    ),
    pytest.mark.slow,
]

FORGET = ["forget", "r0", "--keep-last", "2"]


def remote_state(project: HasRepo, name: str = "r0") -> tuple[LogView, KeptSet]:
    """The remote's ref log, replayed whole and graph-checked (raises on any damage), and
    its kept set for the signers this project trusts."""
    with in_env(project.env), Repo.open(project.root) as repo:
        remote = Remote(repo, pick_remote(repo, name))
        view = remote.log.load(full=True)
        remote.log.check(view)
        return view, kept(view, set(trusted_signers(repo).names))


def forget_entries(view: LogView) -> list[LogEntry]:
    return [e for e, _ in view.entries if e.action is not None and e.action.kind == "forget"]


def check_forgotten(
    check: Callable[[bool, str], bool],
    project: HasRepo,
    commits: list[str],
    before: int,
    expected: set[str],
    name: str = "r0",
    seen: dict[str, int] | None = None,
) -> bool:
    """After a killed or failed forget: the log is whole, the entry landed whole or not
    at all, and what the policy keeps (the last two commits) is kept and reads back.
    ``check(ok, message)`` records a loss; returns whether everything held."""
    try:
        view, found = remote_state(project, name)
    except Exception as exc:  # any damage to the log is a loss, named
        return bool(check(False, f"the ref log does not replay: {exc}"))
    ok = check(not view.holes, f"holes in the ref log: {view.holes}")
    forgets = forget_entries(view)
    ok = check(len(forgets) in (before, before + 1), f"{len(forgets) - before} new entries") and ok
    if seen is not None:
        outcome = "landed" if len(forgets) == before + 1 else "absent"
        seen[outcome] = seen.get(outcome, 0) + 1
    if len(forgets) == before + 1:
        released = set(forgets[-1].action.ids("released")) if forgets[-1].action else set()
        ok = check(released == expected, f"entry released {released}, not {expected}") and ok
        ok = check(not found.ignored, f"entry not trusted: {found.ignored}") and ok
    for commit in commits[-2:]:
        ok = check(found.is_kept(commit), f"kept commit {commit[:12]} released") and ok
        try:
            read_back(project, commit, name)
        except Exception as exc:  # forget deletes nothing: any failure is a loss
            ok = check(False, f"kept commit {commit[:12]}: {exc}") and ok
    return bool(ok)


def test_kill_forget(project: Project, workdir: Path, record_property: Any) -> None:
    campaign = Campaign("forget", seed=9119)
    rng = random.Random(campaign.seed)
    trust_own_key(project)
    remote = workdir / "remotes" / "r0"
    remote.parent.mkdir()
    project.ok("remote", "add", "--init", "r0", str(remote))
    commits: list[str] = []
    seen: dict[str, int] = {}  # kills after which the entry had landed, or not

    def round_(tag: str) -> list[str]:
        for j in range(6):
            project.write(f"data/batch-{tag}/f{j}.txt", rng.randbytes(64) * 8)
        project.ok("add", "data")
        project.ok("commit", "-a", "-m", f"batch {tag}")
        commits.append(json.loads(project.ok("log", "--json", "-n", "1").out)[0]["id"])
        project.ok("push", "r0", "--no-tags")
        return FORGET

    campaign.measure(project, lambda i: round_(f"m{i}"))
    while campaign.more():
        args = round_(f"k{campaign.runs}")
        view, found = remote_state(project)
        before = len(forget_entries(view))
        expected = set(commits[:-2]) - set(found.released)
        campaign.kill(project, args)
        if not check_forgotten(campaign.check, project, commits, before, expected, seen=seen):
            break
        if not campaign.check_ok(project.run(*args)):
            break
        _view, found = remote_state(project)
        late = [c[:12] for c in commits[:-2] if found.is_kept(c)]
        campaign.check(not late, f"a completed forget left {late} kept")
    campaign.report(record_property)
    assert seen.get("landed") and seen.get("absent"), f"both sides of the append: {seen}"
