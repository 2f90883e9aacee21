"""SIGINT during a push (issue 20, item 9): one line saying how far it got, exit 130, no
traceback; the same command resumes and says what was already there, without sending
it again; a fresh clone then verifies."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.helpers import Project

from .conftest import new_project

SLOW = Path(__file__).with_name("slow_upload.py")


def _project(root: Path, env: dict[str, str]) -> Project:
    proj = new_project(root, env)
    for n in range(4):  # several commits: several packs to send
        proj.write(f"data/part{n}.bin", os.urandom(40_000))
        proj.ok("add", "data")
        proj.ok("commit", "-m", f"part {n}")
    return proj


def _remote_packs(remote: Path) -> set[str]:
    return {p.name for p in (remote / "packs").glob("*.pack")} if remote.is_dir() else set()


def test_interrupted_push_says_how_far_it_got_and_resumes(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    proj = _project(tmp_path / "work", remote_env)
    remote = tmp_path / "nas"
    proj.ok("remote", "add", "--init", "origin", str(remote))
    local = len(list((proj.root / ".dvault" / "packs").glob("*.pack")))
    assert local >= 6

    gate = tmp_path / "gate"  # the later uploads wait for it: the push cannot finish first
    env = {**proj.env, "DVAULT_TEST_UPLOAD_GATE": str(gate), "PYTHONPATH": str(Path.cwd())}
    child = subprocess.Popen(
        [sys.executable, str(SLOW), "push", "origin", "main"],
        cwd=proj.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not _remote_packs(remote) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _remote_packs(remote), "no pack landed"
    child.send_signal(signal.SIGINT)
    time.sleep(1.0)  # the signal is handled first; then the uploads under way may finish
    gate.touch()
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, (out, err)
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err.decode(), (out, err)
    landed = len(_remote_packs(remote))
    said = re.fullmatch(
        r"dvault: error: interrupted: (\d+) of (\d+) packs on the remote; "
        r"run the same command to resume",
        lines[0],
    )
    assert said is not None, lines[0]
    needed = int(said[2])
    assert int(said[1]) == landed and 0 < landed < needed <= local
    assert not (remote / "refs" / "log").is_dir() or not any((remote / "refs" / "log").iterdir())

    # "run the same command": it sends only the rest and says what was already there
    result = proj.ok("push", "origin", "main")
    assert f"sent {needed - landed} pack(s)" in result.out, result.describe()
    assert f"({landed} already there)" in result.out, result.describe()
    assert (
        f"resuming the interrupted push: {landed} pack(s) already on the remote, "
        f"{needed - landed} sent"
    ) in result.out, result.describe()
    assert len(_remote_packs(remote)) == needed
    assert not (proj.root / ".dvault" / "remotes" / "origin" / "interrupted.json").exists()

    copy = Project(tmp_path, remote_env)
    copy.ok("clone", str(remote), "copy")
    Project(tmp_path / "copy", remote_env).ok("verify", "--read-data")
