"""`revert` and `reset` inside a git work tree: dvault.lock follows the data (real git)."""

from __future__ import annotations

import tomllib

from .conftest import V1, GitProject


def test_revert_and_reset_rewrite_the_pin(v1: GitProject) -> None:
    """After a revert the lock pins the revert commit, whose data tree is v1's again (so
    `git diff` of the lock shows only the commit line); after `reset --hard` it pins the
    reset target, ready for `git add dvault.lock`."""
    v1.git("add", "-A")
    v1.git("commit", "-q", "-m", "data v1")
    first = v1.pin()
    first_lock = tomllib.loads(v1.lock())
    v1.write_tree({**V1, "a.txt": b"relabelled\n"})
    v1.ok("commit", "-a", "-m", "bad relabel")
    bad = v1.pin()
    v1.ok("revert", "HEAD")
    reverted = v1.pin()
    assert reverted not in (first, bad)
    assert v1.show_json(reverted)["meta"]["reverts"] == bad
    assert tomllib.loads(v1.lock())["roots"] == first_lock["roots"]
    assert (v1.root / "data/a.txt").read_bytes() == V1["a.txt"]
    v1.ok("reset", "--hard", first)
    assert v1.pin() == first
    assert v1.git("status", "--porcelain").out.strip() == ""  # the lock is v1's, byte for byte
    v1.ok("reset", "--soft", reverted)
    assert v1.pin() == reverted
    assert "dvault.lock" in v1.git("status", "--porcelain").out
