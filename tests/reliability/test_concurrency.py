"""Guarantee 1 under concurrency: four processes committing while a fifth runs ``gc``
lose nothing.

Each worker (a separate process running the real ``dvault`` program) five times
(``DVAULT_COMMITS``) stages a draft of a new file, replaces it, and commits with
``commit -a``, so every commit leaves a superseded draft behind as garbage. Meanwhile the
test keeps ageing every pack past gc's one-hour grace period and running ``dvault gc`` in
a loop, so gc rewrites and deletes packs while commits come and go. Afterwards every
commit a worker reported is in ``dvault log``, ``verify --read-data`` passes, and each
commit checks out with exactly the files its worker had committed by then (files of other
workers: a version that worker wrote, never torn).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import faults
from .faults import (
    DATA,
    base_env,
    cli,
    cli_subprocess,
    digest,
    manifest,
    record,
    worker_content,
)

WORKERS = 4
COMMITS = max(1, int(os.environ.get("DVAULT_COMMITS", 5)))
"""Commits per worker: ``DVAULT_COMMITS`` (default 5)."""
AGE_S = 2 * 3600.0  # past gc's PACK_GRACE_S of one hour


def _age_packs(root: Path) -> None:
    """Make every pack look two hours old, so gc may rewrite or delete it."""
    old = time.time() - AGE_S
    for path in (root / ".dvault" / "packs").glob("*.pack"):
        with contextlib.suppress(FileNotFoundError):  # removed by gc meanwhile
            os.utime(path, (old, old))


def _gc(root: Path, env: dict[str, str]) -> tuple[int, int, str]:
    """Age the packs and run ``dvault gc``: (objects removed, packs affected, problem)."""
    _age_packs(root)
    result = cli_subprocess(root, "gc", env=env)
    if result.code != 0:
        return 0, 0, result.describe()
    found = re.search(r"removed (\d+) object\(s\).*\((\d+) pack\(s\) affected", result.out)
    if found is None:
        return 0, 0, f"unexpected gc output: {result.out}"
    return int(found[1]), int(found[2]), ""


def test_committers_and_gc_lose_nothing(tmp_path: Path, record_property: Any) -> None:
    """Four committing processes and a gc loop: every commit survives and restores."""
    root = tmp_path / "proj"
    root.mkdir()
    env = base_env(tmp_path / "home", lock_timeout=120)
    (tmp_path / "home").mkdir()
    for args in (("init",), ("add", DATA), ("commit", "-m", "seed")):
        if args[0] == "add":
            (root / DATA).mkdir()
            (root / DATA / "seed.txt").write_bytes(b"seed\n")
        result = cli_subprocess(root, *args, env=env)
        assert result.code == 0, result.describe()

    started = time.monotonic()
    workers = [
        subprocess.Popen(
            [sys.executable, faults.__file__, "commit-loop", str(root), str(k), str(COMMITS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(WORKERS)
    ]
    gc_runs, removed, affected, problems = 0, 0, 0, []
    while any(w.poll() is None for w in workers):
        objects, packs, problem = _gc(root, env)
        gc_runs += 1
        removed += objects
        affected += packs
        if problem:
            problems.append(problem)
    outputs = [w.communicate() for w in workers]
    elapsed = time.monotonic() - started
    final_objects, _, problem = _gc(root, env)  # and once more after the last commit
    if problem:
        problems.append(problem)

    made: dict[tuple[int, int], str] = {}
    for k, (out, err) in enumerate(outputs):
        assert workers[k].returncode == 0, f"worker {k} failed:\n{out}{err}"
        for line in out.splitlines():
            item = json.loads(line)
            made[item["worker"], item["number"]] = item["commit"]
    assert len(made) == WORKERS * COMMITS, made
    assert not problems, "\n".join(problems)

    logged = [c["id"] for c in json.loads(cli(root, "log", "--json").out)]
    for key, prefix in made.items():
        matches = [c for c in logged if c.startswith(prefix)]
        assert len(matches) == 1, f"commit {prefix} of worker {key} is not in dvault log"
        made[key] = matches[0]
    assert len(logged) == WORKERS * COMMITS + 1
    checked = cli(root, "verify", "--read-data")
    assert checked.code == 0, checked.describe()

    versions = {
        f"{DATA}/w{k}/f{n}.bin": {digest(worker_content(k, n, final)) for final in (True, False)}
        for k in range(WORKERS)
        for n in range(COMMITS)
    }
    versions[f"{DATA}/seed.txt"] = {digest(b"seed\n")}
    for (k, n), commit in sorted(made.items()):
        result = cli(root, "checkout", "--force", commit)
        assert result.code == 0, result.describe()
        files = manifest(root)
        for m in range(n + 1):  # the worker's own files, final bytes
            rel = f"{DATA}/w{k}/f{m}.bin"
            assert files.get(rel) == digest(worker_content(k, m, True)), f"{commit}: {rel}"
        for rel, sha in files.items():
            assert sha in versions.get(rel, ()), f"{commit}: {rel} has bytes nobody wrote"
    record(
        record_property,
        f"concurrency: {WORKERS} committing processes x {COMMITS} commits and {gc_runs} "
        f"concurrent gc runs ({removed} objects removed, {affected} packs rewritten or "
        f"deleted, +{final_objects} after) in {elapsed:.1f}s: {len(made)}/{len(made)} commits "
        "in dvault log, verify --read-data clean, every commit restores exactly",
    )
    assert removed > 0, "gc never had work while the workers committed"
