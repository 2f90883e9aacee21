"""What fetch brings is visible (`branch -r`, `log --all`), and `push REMOTE HEAD` works
attached and detached."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import Project, one_error_line


def _remote_refs(remote: Path) -> dict[str, str]:
    refs: dict[str, str] = {}
    for path in sorted((remote / "refs" / "log").glob("*.json")):
        for update in json.loads(path.read_bytes())["updates"]:
            refs[update["ref"]] = update["new"]
    return refs


def test_branch_r_and_log_all_show_what_fetch_brought(
    tracked: Project, tmp_path: Path, env: dict[str, str]
) -> None:
    remote = tmp_path / "remote"
    tracked.ok("remote", "add", "--init", "origin", str(remote))
    tracked.ok("push")
    first = tracked.head()
    clone = Project(tmp_path / "clone", env)
    tracked.ok("clone", str(remote), str(clone.root))
    # upstream grows a branch the clone has never seen
    tracked.ok("branch", "exp")
    tracked.ok("checkout", "exp")
    tracked.write("data/a.txt", "experiment\n")
    exp = tracked.commit("try a thing")
    tracked.ok("push", "origin", "exp")

    clone.ok("fetch")
    listed = clone.ok("branch", "-r").out.splitlines()
    assert listed == [f"  origin/exp{' ' * 10} {exp[:12]}", f"  origin/main{' ' * 9} {first[:12]}"]
    assert clone.ok("branch", "-r", "--json").json() == [
        {"name": "origin/exp", "id": exp},
        {"name": "origin/main", "id": first},
    ]
    assert [b["name"] for b in clone.ok("branch", "--json").json()] == ["main"]
    assert [e["id"] for e in clone.log()] == [first]  # HEAD's history only
    every = clone.log("--all")
    assert [e["id"] for e in every] == [exp, first]
    assert every[0]["refs"] == ["origin/exp"]
    assert "origin/main" in every[1]["refs"]
    oneline = clone.ok("log", "--all", "--oneline").out
    assert f"{exp[:12]} (origin/exp) try a thing" in oneline
    one_error_line(clone.fails(2, "branch", "-r", "new-name"))


def test_push_head_attached_and_detached(tracked: Project, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    tracked.ok("remote", "add", "--init", "origin", str(remote))
    first = tracked.head()
    out = tracked.ok("push", "origin", "HEAD").out
    assert f'  refs/heads/main: (new) -> {first[:12]} "first"' in out.splitlines()
    assert _remote_refs(remote) == {"refs/heads/main": first}
    # detached at an older version with a new commit on top: no branch is guessed
    tracked.write("data/a.txt", "second\n")
    tracked.commit("second")
    tracked.ok("checkout", first)
    tracked.write("data/b.txt", "made while detached\n")
    detached = tracked.commit("detached work")
    out = tracked.ok("push", "origin", "HEAD").out
    assert f'  refs/pins/{detached}: (new) -> {detached[:12]} "detached work"' in out, out
    assert _remote_refs(remote) == {"refs/heads/main": first, f"refs/pins/{detached}": detached}
    assert "OK" in tracked.ok("verify", "--remote", "origin", "--read-data").out
    # the pushed pin is readable from the remote by id in a fresh clone
    clone = tmp_path / "clone"
    tracked.ok("clone", str(remote), str(clone))
    shown = tracked.ok("show", f"{detached}:data/b.txt", cwd=clone)
    assert shown.raw == b"made while detached\n"
