"""A push running while ``prune`` plans and deletes loses nothing.

The pusher (one clone, the real ``dvault`` program in a loop) commits new files and files
whose bytes a released commit held (so it re-adds objects prune has planned to delete)
and pushes; meanwhile an administrator's clone releases older commits (forget entries)
and runs ``prune --admin --grace 5s`` again and again, so plans are made and executed
while pushes land. Afterwards every commit not released reads back from the remote byte
for byte (each object re-hashed), including those pushed between a plan and its
execution: the pusher treated planned packs as absent and phase 2 re-checked what the
commits pushed since the plan need.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from tests.cli.helpers import Project, base_env
from tests.remote.prune_helpers import forget, read_back, trust_own_key

ROUNDS = max(2, int(os.environ.get("DVAULT_PRUNE_ROUNDS", 5)))


def _head(proj: Project) -> str:
    return str(json.loads(proj.ok("log", "--json", "-n", "1").out)[0]["id"])


def test_push_during_prune_loses_nothing(tmp_path: Path) -> None:
    env = base_env(tmp_path / "home")
    (tmp_path / "home").mkdir()
    remote = tmp_path / "remote"
    pusher = Project(tmp_path / "pusher", env)
    pusher.root.mkdir()
    pusher.ok("init")
    trust_own_key(pusher)
    pusher.ok("remote", "add", "--init", "r0", str(remote))
    old = [os.urandom(40_000 + i) for i in range(6)]  # contents that come back later
    pusher.write("data/old.bin", old[0])
    pusher.ok("add", "data")
    pusher.ok("commit", "-m", "first")
    pusher.ok("push", "r0", "--no-tags")
    commits = [_head(pusher)]
    admin = Project(tmp_path / "admin", env)
    Project(tmp_path, env).ok("clone", str(remote), str(admin.root))
    stop = threading.Event()
    failures: list[str] = []

    def push_loop() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            pusher.write(f"data/new-{n}.bin", os.urandom(30_000))
            pusher.write("data/old.bin", old[n % len(old)])  # bytes a released commit had
            if n > 2:
                (pusher.root / "data" / f"new-{n - 2}.bin").unlink()
            pusher.ok("add", "data")
            pusher.ok("commit", "-a", "-m", f"push {n}")
            result = pusher.run("push", "r0", "--no-tags")
            if result.code != 0:
                failures.append(result.describe())
                return
            commits.append(_head(pusher))

    thread = threading.Thread(target=push_loop)
    thread.start()
    released: set[str] = set()
    try:
        for _ in range(ROUNDS):
            time.sleep(2)
            for commit in commits[:-3]:
                if commit not in released:
                    forget(admin, [commit], "origin")
                    released.add(commit)
            admin.ok("prune", "origin", "--admin", "--grace", "5s")
    finally:
        stop.set()
        thread.join()
    assert not failures, failures[0]
    time.sleep(5)
    admin.ok("prune", "origin", "--admin", "--grace", "0")
    log = sorted((remote / "refs" / "log").iterdir())
    actions = [json.loads(p.read_bytes()).get("action", {}) for p in log]
    assert any(a.get("kind") == "prune-done" and a["deleted"] for a in actions)
    for commit in commits:
        if commit not in released:
            assert read_back(pusher, commit, "r0") > 2, commit
    pusher.ok("verify")
