"""Progress of long network work (issue 20, item 9): push, fetch, clone and verify
--read-data / --remote show bytes, rate and ETA (tqdm, on stderr). On a terminal that is
automatic for big transfers; ``DVAULT_PROGRESS=1`` shows it anyway, and ``-q`` / ``--json``
keep it quiet."""

from __future__ import annotations

import os
from pathlib import Path

from .helpers import Project

FORCED = {"DVAULT_PROGRESS": "1"}


def _bar(err: str, desc: str) -> bool:
    """A tqdm byte bar for ``desc``: its name, a byte count and a rate."""
    return any(
        line.lstrip("\r").startswith(f"{desc}:") and "B/s" in line
        for line in err.replace("\r", "\n").splitlines()
    )


def test_network_work_shows_bytes_and_rate(project: Project, tmp_path: Path) -> None:
    project.write("data/big.bin", os.urandom(300_000))
    project.ok("add", "data")
    project.ok("commit", "-m", "one")
    remote = tmp_path / "nas"
    project.ok("remote", "add", "--init", "origin", str(remote))

    pushed = project.run("push", "origin", "main", env=FORCED)
    assert pushed.code == 0, pushed.describe()
    assert _bar(pushed.err, "push"), pushed.err

    copy = Project(tmp_path, project.env)
    cloned = copy.run("clone", str(remote), "copy", env=FORCED)
    assert cloned.code == 0, cloned.describe()
    assert _bar(cloned.err, "fetch"), cloned.err

    checked = project.run("verify", "--read-data", env=FORCED)
    assert checked.code == 0 and _bar(checked.err, "verify"), checked.describe()
    checked = project.run("verify", "--remote", "origin", "--read-data", env=FORCED)
    assert checked.code == 0 and _bar(checked.err, "verify"), checked.describe()

    # quiet and machine-readable runs stay silent on stderr
    for args in (["-q", "verify", "--read-data"], ["verify", "--read-data", "--json"]):
        result = project.run(*args, env=FORCED)
        assert result.code == 0 and not _bar(result.err, "verify"), result.describe()


def test_no_bar_when_not_a_terminal(project: Project, tmp_path: Path) -> None:
    project.write("data/a.bin", os.urandom(1000))
    project.ok("add", "data")
    project.ok("commit", "-m", "one")
    project.ok("remote", "add", "--init", "origin", str(tmp_path / "nas"))
    result = project.ok("push", "origin", "main")
    assert "B/s" not in result.err
