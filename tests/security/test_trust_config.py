"""The committed ``.dvault/config`` is hostile input (issue 17, item 13): anyone who can
commit to the git project writes it. Remote names from it are checked before they become
path components, and it may only tighten safety: a switch that loosens it, and hook
automation, are honoured only from ``.dvault/config.local`` or the user's config.

Each test commits the hostile config with real git and runs the real ``dvault``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from dvault.repo import Repo
from tests.security._trust_helpers import assert_clean, craft, tree_of, victim


def _git(proj_root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=proj_root, env=env, capture_output=True, text=True, check=False
    )


def _commit_config(proj_root: Path, env: dict[str, str], text: str) -> None:
    """Append ``text`` to the project config and commit it (what a pull brings in)."""
    config = proj_root / ".dvault" / "config"
    config.write_text(config.read_text() + text)
    assert _git(proj_root, env, "add", ".dvault/config").returncode == 0
    assert _git(proj_root, env, "commit", "-qm", "config").returncode == 0


def test_a_committed_remote_name_cannot_write_outside_dvault(tmp_path: Path) -> None:
    """A remote named ``../../x`` (or with a ``/``) is refused on load, naming the file:
    fetch, pull and the hooks' default remote write nothing anywhere."""
    source = victim(tmp_path / "src")
    remote = tmp_path / "remote"
    with Repo.open(source.root) as repo:  # a real remote holding data to fetch
        repo.add_remote("origin", str(remote), init=True)
        repo.push()
    proj = victim(tmp_path / "v", git=True)
    for name in ("../../x", "a/b"):
        _commit_config(proj.root, proj.env, f'\n[remote."{name}"]\nurl = "{remote}"\n')
        before = tree_of(tmp_path, skip=proj.root / ".dvault")
        for args in (("fetch",), ("pull", name)):
            result = proj.run(*args)
            assert result.code == 2, result.describe()
            assert_clean(result)
            assert f"{proj.root / '.dvault' / 'config'}: invalid remote name" in result.err
        assert tree_of(tmp_path, skip=proj.root / ".dvault") == before
        assert not (proj.root / ".dvault" / "x").exists()
        _git(proj.root, proj.env, "reset", "-q", "--hard", "HEAD~1")
    refused = proj.run("remote", "add", "--init", "a/b", str(remote))
    assert refused.code == 2 and "invalid remote name" in refused.err, refused.describe()


def test_a_committed_config_cannot_switch_off_the_git_dir_guard(tmp_path: Path) -> None:
    """The user's config says the file system is case-insensitive (macOS, Windows); a
    committed ``case-insensitive = false`` is ignored with a warning, so a tree that
    would write ``.GIT/hooks`` is still refused. The same switch in this clone's own
    ``.dvault/config.local`` is the user's decision and is honoured."""
    proj = victim(tmp_path, git=True)
    user_config = Path(proj.env["DVAULT_CONFIG_DIR"]) / "config"
    user_config.parent.mkdir(parents=True, exist_ok=True)
    user_config.write_text("[checkout]\ncase-insensitive = true\n")
    _commit_config(proj.root, proj.env, "\n[checkout]\ncase-insensitive = false\n")
    evil = craft(proj.root, files={b".GIT": {b"hooks": {b"post-checkout": b"#!/bin/sh\n"}}})
    result = proj.run("checkout", evil)
    assert result.code == 3, result.describe()
    assert_clean(result)
    assert "warning: ignoring checkout.case-insensitive = false in " in result.err
    assert str(proj.root / ".dvault" / "config") in result.err
    assert not (proj.root / "data" / ".GIT").exists()
    (proj.root / ".dvault" / "config.local").write_text("[checkout]\ncase-insensitive = false\n")
    assert proj.ok("checkout", evil).code == 0
    assert (proj.root / "data" / ".GIT" / "hooks" / "post-checkout").is_file()


def test_a_committed_config_cannot_turn_on_hook_automation(tmp_path: Path) -> None:
    """``[git] commit_data = true`` committed by someone else does not make the victim's
    pre-commit hook commit their data: the git commit is refused as without it."""
    proj = victim(tmp_path, git=True)
    proj.ok("hooks", "install")
    assert _git(proj.root, proj.env, "add", "-A").returncode == 0
    assert _git(proj.root, proj.env, "commit", "-qm", "start").returncode == 0
    _commit_config(proj.root, proj.env, "\n[git]\ncommit_data = true\n")
    head = proj.head()
    proj.write("data/a.txt", "edited, not meant for a data commit yet\n")
    result = _git(proj.root, proj.env, "commit", "-q", "--allow-empty", "-m", "code")
    assert result.returncode != 0, result.stderr
    assert "warning: ignoring git.commit_data = true" in result.stderr
    assert "tracked data has uncommitted changes" in result.stderr
    assert proj.head() == head
