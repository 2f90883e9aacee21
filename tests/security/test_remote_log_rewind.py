"""Issue 17, item 9: a forged rewind must not get past a clone that pushes (or reviews, or
pulls a pin through a git hook) before it fetches.

The attacker holds only the pusher credential: it appends one well-formed, correctly
chained ref-log entry (dvault's own encoder, a create-only write) that moves ``main`` back
to an older commit without ``force``. Replay cannot see that this is not a fast-forward;
the commit-graph check can. Before the fix, push, review, pin pulls and hooks replayed
the log and *saved* the new position unchecked, so the next fetch never looked at the
entry again and followed it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import Project, git, one_error_line

from ._reflog_helpers import Owner, attacker, clone_victim, commit, forge, isolated_env, tracking


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return isolated_env(tmp_path / "home", monkeypatch)


def _fetch_is_refused_every_time(victim: Project, tracked: str) -> None:
    for _ in range(2):
        result = victim.run("fetch")
        assert result.code == 3, result.describe()
        assert "not a fast-forward: a forged ref-log entry" in one_error_line(result)
    assert tracking(victim) == tracked  # no tracking ref moved


@pytest.mark.parametrize("protect", [False, True], ids=["ordinary", "protected"])
def test_forged_rewind_is_still_reported_after_a_push(
    tmp_path: Path, env: dict[str, str], protect: bool
) -> None:
    """The victim pushes its own work first: the push refuses to build on the forgery
    (it would have endorsed it), and every fetch after it still reports it."""
    url = str(tmp_path / "remote")
    owner = Owner(tmp_path / "owner", url, protect=["main"] if protect else None)
    first = owner.head()
    owner.push()
    second = owner.commit("second\n")
    owner.push()
    victim = clone_victim(tmp_path, env, url)
    assert tracking(victim) == second

    forge(attacker(url), tmp_path, "refs/heads/main", second, first)  # no force
    commit(victim, "victim's work\n")
    result = victim.run("push")
    assert result.code == 3, result.describe()
    assert "forged ref-log entry" in one_error_line(result)
    _fetch_is_refused_every_time(victim, second)
    result = victim.run("verify", "--remote", "origin")
    assert result.code == 1 and "forged ref-log entry" in result.err, result.describe()


def test_forged_rewind_is_still_reported_after_review_and_a_hook_pull(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A teammate onboarded through git reviews and pulls pinned data through the
    post-merge hook after the forgery: neither moves its verified position, so the next
    fetch still reports the forged entry and moves no tracking ref."""
    url = str(tmp_path / "remote")
    owner = Owner(tmp_path / "owner", url, git=True)
    first = owner.head()
    owner.push()
    owner.git("add", ".dvault/config", ".dvault/.gitignore", ".gitignore", "dvault.lock")
    owner.git("commit", "-qm", "data")
    second = owner.commit("second\n")
    owner.push()
    owner.git("commit", "-qam", "second")

    victim = Project(tmp_path / "victim", env)
    subprocess.run(["git", "clone", "-q", str(owner.root), str(victim.root)], check=True, env=env)
    victim.ok("pull")  # materialises the pinned data
    victim.ok("fetch")
    victim.ok("hooks", "install")
    assert tracking(victim) == second

    third = owner.commit("third\n")
    owner.push()
    owner.git("commit", "-qam", "third")
    forge(attacker(url), tmp_path, "refs/heads/main", third, first)  # no force
    victim.run("review")
    git(victim, "pull", "-q", "--ff-only")  # post-merge fetches the pinned data (third)
    assert (victim.root / "data" / "a.txt").read_text() == "third\n"
    _fetch_is_refused_every_time(victim, second)
