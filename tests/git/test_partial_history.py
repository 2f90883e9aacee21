"""A clone made by the git hooks holds only the pinned commits whole (issue 20, item 5):
``verify`` says the history behind them was not fetched (not damage) and names
``dvault fetch --all-history``, which brings it; damage is still damage."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from .conftest import V1, GitProject, change_data
from .test_checkout_merge import V2

V3 = {**V2, "c.bin": b"\x01" * 3000}


def _hook_clone(hooked: GitProject, bare: Path, tmp_path: Path) -> GitProject:
    """v1, v2, v3 pushed through the hooks; a fresh git clone whose post-checkout hook
    fetched only the pin of main (v3)."""
    change_data(hooked, V2, "v2")
    change_data(hooked, V3, "v3")
    hooked.git("push", "-q", "origin", "main")
    clone = GitProject(tmp_path / "clone", hooked.env)
    subprocess.run(
        ["git", "clone", "-q", "-b", "main", str(bare), str(clone.root)],
        env=hooked.env,
        check=True,
    )
    clone.ok("hooks", "install")
    result = clone.git("checkout", "-q", "main")
    assert "data checked out at" in result.err, result.describe()
    assert clone.data() == hooked.data()
    return clone


def _hint(line: str) -> list[str]:
    command = shlex.split(line.split("`")[1])
    assert command[0] == "dvault", line
    return command[1:]


def test_verify_says_not_fetched_and_the_hint_brings_the_history(
    hooked: GitProject, bare: Path, tmp_path: Path
) -> None:
    clone = _hook_clone(hooked, bare, tmp_path)
    result = clone.ok("verify")
    lines = result.err.splitlines() + result.out.splitlines()
    line = next(x for x in lines if "not fetched" in x)
    assert line.startswith(f"history before {clone.pin('HEAD')[:12]} not fetched (2 commits)")
    assert "missing" not in result.err + result.out
    assert clone.ok("verify", "--json").json()["not_fetched"] == 2

    clone.ok(*_hint(line))  # dvault fetch --all-history
    result = clone.ok("verify", "--read-data")
    assert "not fetched" not in result.err + result.out
    assert clone.ok("verify", "--json").json()["not_fetched"] == 0
    assert not (clone.root / ".dvault" / "shallow").exists()
    # every version is now here: checking out v1 needs no remote
    for path in (tmp_path / "dvault-remote").iterdir():
        path.rename(path.with_name(path.name + ".away"))
    clone.ok("checkout", clone.pin("HEAD~2"))
    assert set(V1) <= set(clone.data())


def test_a_deleted_pack_is_still_damage(hooked: GitProject, bare: Path, tmp_path: Path) -> None:
    clone = _hook_clone(hooked, bare, tmp_path)
    packs = sorted((clone.root / ".dvault" / "packs").glob("*.pack"))
    assert len(packs) > 1
    for pack in packs:  # each one, alone: every pack holds something the clone fetched
        pack.rename(pack.with_suffix(".away"))
        result = clone.run("verify")
        assert result.code == 1, result.describe()
        assert "Traceback" not in result.err
        assert "problem(s)" in result.err, result.describe()
        pack.with_suffix(".away").rename(pack)
    clone.ok("verify")


def test_a_fresh_clone_with_its_remote_offline_names_the_remote(
    hooked: GitProject, bare: Path, tmp_path: Path
) -> None:
    """Issue 20, item 10: the hook's fetch says which remote it needs, not that an object
    is missing; once the remote is back the same checkout works."""
    change_data(hooked, V2, "v2")
    hooked.git("push", "-q", "origin", "main")
    clone = GitProject(tmp_path / "clone", hooked.env)
    subprocess.run(
        ["git", "clone", "-q", "-b", "main", str(bare), str(clone.root)],
        env=hooked.env,
        check=True,
    )
    clone.ok("hooks", "install")
    remote = tmp_path / "dvault-remote"
    remote.rename(tmp_path / "unmounted")
    result = clone.git("checkout", "-q", "main", check=False)
    pin = clone.pin("HEAD")
    assert f"objects of {pin[:12]} are on remote origin, which cannot be reached" in result.err, (
        result.describe()
    )
    assert "is missing" not in result.err
    assert not remote.exists()  # never recreated
    (tmp_path / "unmounted").rename(remote)
    result = clone.git("checkout", "-q", "main")
    assert "data checked out at" in result.err, result.describe()
    assert clone.data() == hooked.data()
