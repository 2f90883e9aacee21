"""The author of a data commit is who git says it is: GIT_AUTHOR_NAME/EMAIL, then the
repository's own .git/config, then the global git config (~/.gitconfig, XDG), then the
system one — each of name and email on its own, as git does."""

from __future__ import annotations

import time
from pathlib import Path

from .conftest import GitProject


def _author(proj: GitProject, env: dict[str, str]) -> str:
    proj.write("data/f.txt", f"{time.time_ns()}\n")
    if not (proj.root / "dvault.lock").exists():
        proj.ok("add", "data", env=env)
    proj.ok("commit", "-a", "-m", "by whom", env=env)
    return str(proj.ok("log", "-n", "1", "--json").json()[0]["author"])


def test_author_follows_gits_precedence(gitproj: GitProject, tmp_path: Path) -> None:
    home = Path(gitproj.env["HOME"])
    system = tmp_path / "gitconfig-system"
    system.write_text("[user]\n\tname = Sys Admin\n\temail = sys@example.com\n")
    (home / ".gitconfig").write_text("[user]\n\tname = Global Gail\n\temail = gail@example.com\n")
    env = {
        **gitproj.env,
        "GIT_CONFIG_SYSTEM": str(system),
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
    }
    for var in ("DVAULT_AUTHOR", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_CONFIG_NOSYSTEM"):
        env.pop(var, None)
    gitproj.env = env

    # global beats system
    assert _author(gitproj, {}) == "Global Gail <gail@example.com>"
    # the repository's own .git/config beats global (git config user.name, no --global)
    gitproj.git("config", "user.name", "Repo Rita")
    assert _author(gitproj, {}) == "Repo Rita <gail@example.com>"
    # the environment beats every file, key by key
    assert _author(gitproj, {"GIT_AUTHOR_EMAIL": "env@example.com"}) == (
        "Repo Rita <env@example.com>"
    )
    assert _author(gitproj, {"GIT_AUTHOR_NAME": "Env Eve"}) == "Env Eve <gail@example.com>"
    # without a global file, system answers
    (home / ".gitconfig").unlink()
    gitproj.git("config", "--unset", "user.name")
    assert _author(gitproj, {}) == "Sys Admin <sys@example.com>"
    # DVAULT_AUTHOR is dvault's own override, above all
    assert _author(gitproj, {"DVAULT_AUTHOR": "Bot <bot@example.com>"}) == "Bot <bot@example.com>"
    # and git itself agrees with the author dvault recorded for the repo-config case
    gitproj.git("config", "user.name", "Repo Rita")
    gitproj.git("config", "user.email", "rita@example.com")
    assert _author(gitproj, {}) == "Repo Rita <rita@example.com>"
    assert gitproj.git("var", "GIT_AUTHOR_IDENT").out.startswith("Repo Rita <rita@example.com>")
    assert "Author: Repo Rita <rita@example.com>\n" in gitproj.ok("log", "-n", "1").out


def test_xdg_git_config_is_read(gitproj: GitProject) -> None:
    home = Path(gitproj.env["HOME"])
    xdg = home / "xdg"
    (xdg / "git").mkdir(parents=True)
    (xdg / "git" / "config").write_text("[user]\n\tname = Xdg Xavier\n\temail = x@example.com\n")
    env = {**gitproj.env, "XDG_CONFIG_HOME": str(xdg)}
    for var in ("DVAULT_AUTHOR", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_CONFIG_GLOBAL"):
        env.pop(var, None)
    gitproj.env = env
    assert _author(gitproj, {}) == "Xdg Xavier <x@example.com>"


def test_the_remote_ref_log_names_the_pusher_as_git_does(
    gitproj: GitProject, tmp_path: Path
) -> None:
    """The append-only audit trail on the remote records who pushed by git's identity
    (here the repository's own .git/config), not the machine's login name."""
    from dvault.remote.logentry import LogEntry, entry_key

    for var in ("DVAULT_AUTHOR", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"):
        gitproj.env.pop(var, None)
    gitproj.git("config", "user.name", "Repo Rita")
    gitproj.git("config", "user.email", "rita@example.com")
    _author(gitproj, {})
    backup = tmp_path / "backup"
    gitproj.ok("remote", "add", "--init", "backup", str(backup))
    gitproj.ok("push", "backup")
    raw = (backup / entry_key(0)).read_bytes()  # the first entry is number 0
    assert LogEntry.decode(raw, "entry 0").user == "Repo Rita <rita@example.com>"
