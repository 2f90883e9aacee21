"""The verdict reads a pinned commit's meta as attacker input (anyone who can push wrote
it): values of the wrong type or shape are "not recorded" or "fail", never a pass, never
a traceback, and every string it quotes is escaped in the rendered report."""

from __future__ import annotations

from pathlib import Path

from tests.security._trust_helpers import craft

from .helpers import git, git_project

HOSTILE_META = {
    "git": {"commit": "\x1b[31mred", "dirty": "no"},
    "inputs": [{"rev": "v1\x1b]0;t\x07", "path": ["x"], "clean": False}, "junk", 7],
    "run": {"command": ["sh", "-c", "echo |pwned|\n# ok"], "outputs": [{"a": 1}], "cwd": 5},
    "env": "not an id",
}


def test_a_hostile_meta_never_passes_and_never_crashes(tmp_path: Path, env: dict[str, str]) -> None:
    proj = git_project(tmp_path / "proj", env)
    proj.write("data/a.txt", "alpha\n")
    proj.ok("add", "data")
    proj.ok("commit", "-m", "v1")
    evil = craft(proj.root, meta=HOSTILE_META)
    proj.ok("checkout", evil)
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "pin the crafted commit")
    result = proj.run("review", "--json")
    assert result.code == 1 and "Traceback" not in result.err, result.describe()
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert checks["worktree_clean"]["status"] == "not recorded"  # "dirty": "no" is no bool
    assert checks["environment_captured"]["status"] == "fail"  # refused: not an id
    assert checks["rerun_verified"]["status"] == "not recorded"
    assert all(c["status"] != "pass" for n, c in checks.items() if n != "code_pushed")
    for fmt in ("md", "html"):
        page = proj.run("review", "--format", fmt)
        assert "Traceback" not in page.err and "\x1b" not in page.out and "\x07" not in page.out
