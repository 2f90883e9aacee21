"""The remote's ref rules: branches move by fast-forward or an explicit, logged --force;
tags never move."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import Project, one_error_line

from .conftest import RemoteTarget, clone, commit_file


def test_branches_fast_forward_only_and_tags_never_move(
    ml: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """A diverged push is refused until --force, which appends; a moved tag is refused."""
    ml.ok("push", "origin", "main", "v1")
    alice = clone(remote, tmp_path / "alice")
    bob = clone(remote, tmp_path / "bob")

    a2 = commit_file(alice, "data/labels/train.csv", "file,label\nimg00.bin,1\n", "alice")
    alice.ok("tag", "v2", "-m", "alice's v2")
    alice.ok("push", "origin", "main", "v2")
    b2 = commit_file(bob, "data/labels/train.csv", "file,label\nimg00.bin,2\n", "bob")
    bob.ok("tag", "v2", "-m", "bob's v2")

    result = bob.run("push")
    assert result.code == 1, result.describe()
    assert "fetch first" in one_error_line(result)
    bob.ok("fetch")
    result = bob.run("push")
    assert result.code == 1, result.describe()
    assert "not a fast-forward" in one_error_line(result)

    history = {key: remote.read(key) for key in remote.log_keys()}
    # bob's v2 would follow main and is refused (alice's v2 is there): the branch alone
    result = bob.run("push", "--force")
    assert result.code == 2 and "'v2' already exists" in one_error_line(result)
    assert {key: remote.read(key) for key in remote.log_keys()} == history
    bob.ok("push", "--force", "--no-tags")
    keys = remote.log_keys()
    assert len(keys) == len(history) + 1
    assert {key: remote.read(key) for key in history} == history  # appended, not rewritten
    forced = json.loads(remote.read(keys[-1]))
    assert forced["updates"] == [{"force": True, "new": b2, "old": a2, "ref": "refs/heads/main"}]
    bob.ok("verify", "--remote", "origin")

    result = bob.run("push", "origin", "v2")
    assert result.code == 2, result.describe()
    assert "tags never move" in one_error_line(result)
    result = bob.run("push", "--force", "origin", "v2")
    assert result.code == 2, result.describe()
    assert len(remote.log_keys()) == len(keys)
    alice.ok("fetch")
    assert alice.log("origin/main", "-n", "1")[0]["id"] == b2
