"""The retention engine keeps exactly the commits restic's own ``forget`` keeps.

A synthetic 400-day history (irregular: several commits some days, none on others, gaps of
weeks) is backed up into a real restic repository, one tiny snapshot per commit time
(``restic backup --time``); ``restic forget --dry-run --json`` then says which times each
policy keeps, and dvault.retention must keep the very same. Needs Debian's ``restic``
(.ci/run installs it): skipped with a reason without it, a failure under CI=true.

Each restic backup derives its key (~2 s on two cores), so the default sample keeps one
older commit time in four and every time of the last 30 hours (~40 backups, under a
minute); ``DVAULT_SLOW=1`` backs up all ~120.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from dvault.retention import Candidate, Duration, Policy, apply_policy

pytestmark = pytest.mark.slow
FULL = os.environ.get("DVAULT_SLOW") == "1"
RESTIC = shutil.which("restic")
if RESTIC is None:
    if os.environ.get("CI") == "true":
        pytest.fail("restic is required under CI (.ci/run installs it)", pytrace=False)
    pytest.skip("restic is not installed (apt-get install restic)", allow_module_level=True)


def synthetic_history() -> list[datetime]:
    """~120 commit times over 400 days, with bursts, quiet weeks and same-hour pairs."""
    rng = random.Random(22)
    start = datetime(2024, 11, 20, 9, 0, 0, tzinfo=UTC)
    times: set[datetime] = set()
    day = 0
    while day < 400:
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            times.add(
                start + timedelta(days=day, hours=rng.randrange(24), minutes=rng.randrange(60))
            )
        day += rng.choice((1, 2, 3, 4, 6, 9, 17))
    # the last 30 hours densely, so hourly rules have something to count
    end = start + timedelta(days=400)
    times.update(end + timedelta(hours=h, minutes=7) for h in range(0, 30, 2))
    times.add(end + timedelta(hours=4, minutes=31))  # two in one hour
    ordered = sorted(times)
    if FULL:
        return ordered
    older = [t for t in ordered if t < end]
    return sorted({*older[::4], older[-1], *(t for t in ordered if t >= end)})


def restic_version() -> tuple[int, ...]:
    out = subprocess.run([RESTIC or "restic", "version"], capture_output=True, text=True).stdout
    match = re.search(r"restic (\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


@pytest.fixture(scope="module")
def restic_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], list[datetime]]:
    root = tmp_path_factory.mktemp("restic")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "TZ": "UTC",
        "RESTIC_REPOSITORY": str(root / "repo"),
        "RESTIC_PASSWORD": "synthetic",
        "RESTIC_CACHE_DIR": str(root / "cache"),
    }
    (root / "data").mkdir()
    (root / "data" / "f.txt").write_text("x")
    subprocess.run([RESTIC or "restic", "init", "-q"], env=env, check=True, capture_output=True)
    times = synthetic_history()
    pending: list[subprocess.Popen[bytes]] = []
    for when in times:  # two at a time: restic's backup takes a shared lock
        stamp = when.strftime("%Y-%m-%d %H:%M:%S")
        pending.append(
            subprocess.Popen(
                [RESTIC or "restic", "-q", "backup", "--host", "synth", "--time", stamp, "data"],
                cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        if len(pending) == 2:
            assert all(p.wait() == 0 for p in pending)
            pending = []
    assert all(p.wait() == 0 for p in pending)
    return env, times


def restic_keeps(env: dict[str, str], args: list[str]) -> set[datetime]:
    out = subprocess.run(
        [RESTIC or "restic", "forget", "--dry-run", "--json", *args],
        env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    groups = json.loads(out.strip().splitlines()[-1])
    kept = {datetime.fromisoformat(s["time"]) for g in groups for s in g["keep"]}
    return {k.astimezone(UTC).replace(microsecond=0) for k in kept}


def dvault_keeps(times: list[datetime], policy: Policy) -> set[datetime]:
    cands = [Candidate(f"{i:064x}", int(t.timestamp()) * 10**9) for i, t in enumerate(times)]
    by_id = dict(zip((c.id for c in cands), times, strict=True))
    return {by_id[d.id] for d in apply_policy(cands, policy) if d.keep}


# policies whose counts run out before the oldest commit: restic before 0.17 (Debian's
# 0.14) and after agree on them; the oldest-commit rule is checked below
POLICIES: list[tuple[list[str], Policy]] = [
    (["--keep-daily", "7"], Policy(daily=7)),
    (["--keep-last", "3"], Policy(last=3)),
    (
        ["--keep-last", "3", "--keep-daily", "7", "--keep-weekly", "5", "--keep-monthly", "12"],
        Policy(last=3, daily=7, weekly=5, monthly=12),
    ),
    (["--keep-hourly", "24", "--keep-weekly", "3"], Policy(hourly=24, weekly=3)),
    (["--keep-within", "90d"], Policy(within=Duration(days=90))),
    (["--keep-within", "1y1m3d4h"], Policy(within=Duration(1, 1, 3, 4))),
    (["--keep-within", "2m", "--keep-monthly", "6"], Policy(within=Duration(months=2), monthly=6)),
    (["--keep-weekly", "20", "--keep-yearly", "1"], Policy(weekly=20, yearly=1)),
    (["--keep-daily", "30", "--keep-within", "10d"], Policy(daily=30, within=Duration(days=10))),
]


@pytest.mark.parametrize(("args", "policy"), POLICIES, ids=[" ".join(p[0]) for p in POLICIES])
def test_same_commits_as_restic(
    restic_repo: tuple[dict[str, str], list[datetime]], args: list[str], policy: Policy
) -> None:
    env, times = restic_repo
    expected = restic_keeps(env, args)
    assert 0 < len(expected) < len(times)
    assert dvault_keeps(times, policy) == expected


def test_counts_left_at_the_oldest(restic_repo: tuple[dict[str, str], list[datetime]]) -> None:
    """restic 0.17 keeps the oldest snapshot when a rule still has counts left; older
    restic does not. dvault follows the current rule; compared only with a restic that has it."""
    env, times = restic_repo
    ours = dvault_keeps(times, Policy(yearly=5, monthly=40))
    assert times[0] in ours
    if restic_version() < (0, 17):
        assert ours - {times[0]} == restic_keeps(
            env, ["--keep-yearly", "5", "--keep-monthly", "40"]
        )
    else:
        assert ours == restic_keeps(env, ["--keep-yearly", "5", "--keep-monthly", "40"])
