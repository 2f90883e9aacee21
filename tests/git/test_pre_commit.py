"""pre-commit: a git commit never pins data it does not describe."""

from __future__ import annotations

import pytest

from .conftest import GitProject


def test_pre_commit_refuses_stale_data_with_the_fix(hooked: GitProject) -> None:
    """A git commit with uncommitted data changes is refused, names the fix, commits nothing."""
    before = hooked.sha()
    hooked.write("data/a.txt", b"edited but not committed to dvault\n")
    hooked.write("train.py", "print('v2')\n")
    hooked.git("add", "train.py")
    result = hooked.git("commit", "-q", "-m", "code v2", check=False)
    assert result.code != 0, result.describe()
    assert "dvault: pre-commit:" in result.err
    assert "dvault commit -a -m" in result.err and "git add dvault.lock" in result.err
    assert hooked.sha() == before
    assert hooked.git("log", "--format=%H").out.split() == [before, hooked.sha("HEAD~1")]
    # following the advice makes the same git commit go through
    hooked.ok("commit", "-a", "-m", "v2")
    hooked.git("add", "dvault.lock")
    hooked.git("commit", "-q", "-m", "code v2")
    assert hooked.sha("HEAD~1") == before
    assert hooked.pin("HEAD") == hooked.ok("log", "-n", "1", "--json").json()[0]["id"]


def test_pre_commit_refuses_unstaged_lock(hooked: GitProject) -> None:
    """Data committed to dvault but dvault.lock not staged: the git commit is refused."""
    before = hooked.sha()
    hooked.write("data/a.txt", b"v2\n")
    hooked.ok("commit", "-a", "-m", "v2")
    hooked.write("train.py", "print('v2')\n")
    result = hooked.git("commit", "-q", "-m", "code v2", "train.py", check=False)
    assert result.code != 0, result.describe()
    assert "dvault.lock" in result.err and "dvault: pre-commit:" in result.err
    assert hooked.sha() == before


@pytest.mark.parametrize("flags", [["-q"], ["-q", "-a"]], ids=["index", "commit-a"])
def test_commit_data_setting_commits_data_and_stages_lock(
    hooked: GitProject, flags: list[str]
) -> None:
    """With [git] commit_data = true in .dvault/config.local the hook commits the data and
    the git commit pins it."""
    old_pin = hooked.pin("HEAD")
    hooked.append_config("\n[git]\ncommit_data = true\n", local=True)
    hooked.write("data/a.txt", b"edited, committed by the hook\n")
    hooked.write("train.py", "print('v2')\n")
    hooked.git("add", "train.py")
    result = hooked.git("commit", *flags, "-m", "code v2", check=False)
    assert result.code == 0, result.describe()
    new_pin = hooked.pin("HEAD")
    assert new_pin != old_pin
    changed = set(hooked.git("show", "--format=", "--name-only", "HEAD").out.split())
    assert {"dvault.lock", "train.py"} <= changed
    assert hooked.ok("show", f"{new_pin}:data/a.txt").raw == b"edited, committed by the hook\n"
    assert hooked.show_json(new_pin)["parents"] == [old_pin]
    assert hooked.lock() == hooked.lock("HEAD")  # nothing left unstaged
    assert hooked.git("status", "--porcelain", "--", "dvault.lock", "data").out == ""
    assert hooked.ok("status", "--exit-code").code == 0
