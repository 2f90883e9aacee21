"""``dvault stash push`` killed with SIGKILL before each of its write-boundary calls never
loses an uncommitted edit: after every kill either no entry is listed and the workspace
holds every edit, or the entry is listed and ``stash pop`` brings every edit back (the
files the killed push had already reset included). A sample of the boundaries is
hit (every fifth by default; ``DVAULT_SLOW=1`` hits every one)."""

from __future__ import annotations

import json
import os
import random
from typing import Any

import pytest

from .harness import Campaign, Project, manifest, manifest_diff, run_and_kill
from .test_kill import check_repository, mutate, populate

pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:'click\.utils\.get_\w+_stream' is deprecated:DeprecationWarning"
    ),
    pytest.mark.slow,
]

STEP = 1 if os.environ.get("DVAULT_SLOW") == "1" else 5


def _stashes(project: Project) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(project.ok("stash", "list", "--json").out)
    return listed


def test_kill_stash_push(project: Project, record_property: Any) -> None:
    campaign = Campaign("stash push", 3011, wanted=0)  # every kill is at a write boundary
    rng = random.Random(campaign.seed)
    populate(project, rng, 20)
    project.ok("add", "data")
    project.ok("commit", "-m", "base")
    committed = manifest(project.root)
    mutate(project, rng, "wip", rewrite=6, big=True)
    edited = manifest(project.root)
    assert edited != committed
    boundary = 0
    while not campaign.losses:
        boundary += STEP
        outcome = run_and_kill(project, ["stash", "push", "-m", "wip"], 0.0, boundary)
        campaign.current = outcome
        campaign.runs += 1
        if outcome.killed:
            campaign.boundary_kills += 1
        else:
            campaign.finished += 1
            campaign.check(outcome.code == 0, f"stash push failed: {outcome.err}")
            diff = manifest_diff(committed, manifest(project.root))
            campaign.check(not diff, f"workspace not at HEAD after stash push: {diff}")
        listed = _stashes(project)
        if listed:
            campaign.check(len(listed) == 1, f"more than one entry: {listed}")
            campaign.check_ok(project.run("stash", "pop"))
            campaign.check(not _stashes(project), "the entry was not dropped by pop")
        diff = manifest_diff(edited, manifest(project.root))
        campaign.check(not diff, f"edits lost after a kill at boundary {boundary}: {diff}")
        check_repository(project, campaign)
        if not outcome.killed:
            break
    campaign.boundaries = boundary
    campaign.check(boundary > 3, f"stash push made only {boundary} write-boundary calls")
    campaign.report(record_property)
