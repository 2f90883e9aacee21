"""``dvault prune`` on a directory remote killed at each write boundary (the repack
upload, the plan entry, each unlink, the prune-done entry) and at random times: every kept
commit's objects still read back from the remote and verify, a re-run completes, and a
completed prune leaves nothing dead behind (docs/retention.md, "Crash safety").

Each run: a commit adding a batch of files and dropping the batch three commits back, a
push, and a forget entry releasing the commit two back, so every prune plans dead packs
and repacks partly live ones.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.remote.prune_helpers import forget, read_back, trust_own_key

from .harness import Campaign, Project

pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:'click\.utils\.get_\w+_stream' is deprecated:DeprecationWarning"
    ),
    pytest.mark.slow,
]


def test_kill_prune(project: Project, workdir: Path, record_property: Any) -> None:
    campaign = Campaign("prune", seed=9009)
    rng = random.Random(campaign.seed)
    trust_own_key(project)
    remote = workdir / "remotes" / "r0"
    remote.parent.mkdir()
    project.ok("remote", "add", "--init", "r0", str(remote))
    commits: list[str] = []
    released: set[str] = set()
    batches: list[str] = []

    def round_(tag: str) -> list[str]:
        for j in range(12):
            project.write(f"data/batch-{tag}/f{j:02d}.txt", rng.randbytes(64) * 16)
        project.write(f"data/batch-{tag}/blob.bin", rng.randbytes(96 << 10))
        batches.append(tag)
        if len(batches) > 3:
            shutil.rmtree(project.root / "data" / f"batch-{batches[-4]}")
        project.ok("add", "data")
        project.ok("commit", "-a", "-m", f"batch {tag}")
        commits.append(json.loads(project.ok("log", "--json", "-n", "1").out)[0]["id"])
        project.ok("push", "r0", "--no-tags")
        if len(commits) > 2:
            forget(project, [commits[-3]], "r0")
            released.add(commits[-3])
        return ["prune", "r0", "--admin", "--grace", "0"]

    def kept_read_back() -> bool:
        for commit in commits:
            if commit in released:
                continue
            try:
                read_back(project, commit, "r0")
            except Exception as exc:  # any failure is a loss, named
                return campaign.check(False, f"kept commit {commit[:12]}: {exc}")
        return True

    campaign.measure(project, lambda i: round_(f"m{i}"))
    while campaign.more():
        args = round_(f"k{campaign.runs}")
        campaign.kill(project, args)
        if not kept_read_back():
            break
        if not campaign.check_ok(project.run(*args)):
            break
        kept_read_back()
        left = json.loads(project.ok("prune", "r0", "--dry-run", "--json").out)
        campaign.check(left["bytes_to_free"] == 0, f"a completed prune left {left}")
    campaign.report(record_property)
