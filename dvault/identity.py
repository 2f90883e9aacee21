"""Who is committing, in git's order of precedence, each of name and email on its own:

1. ``DVAULT_AUTHOR`` (``Name <email>``, the whole identity);
2. ``GIT_AUTHOR_NAME`` / ``GIT_AUTHOR_EMAIL`` (as git commit reads them);
3. ``user.name`` / ``user.email`` in the dvault config (``.dvault/config.local`` or the
   user config: the project's committed config may not say who the user is);
4. git's configuration files, read with dulwich: the repository's own ``.git/config``,
   then the global ``~/.gitconfig`` and ``$XDG_CONFIG_HOME/git/config`` (or
   ``GIT_CONFIG_GLOBAL``), then the system ``/etc/gitconfig`` (unless
   ``GIT_CONFIG_NOSYSTEM``; or ``GIT_CONFIG_SYSTEM``);
5. the login and host name.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dvault import config as cfg
from dvault.gitlink import find_git_root

Lookup = Callable[[bytes], str | None]


def _git_config(root: Path | None) -> Lookup:
    """``user.KEY`` from git's files: the repository's (when ``root`` is in a git work
    tree), then global, then system; None when none says."""
    try:
        from dulwich.config import StackedConfig  # deferred: dulwich, ~60 ms to import

        backends = []
        git_root = find_git_root(root) if root is not None else None
        if git_root is not None:
            from dulwich.repo import Repo as GitRepo  # deferred: dulwich

            repo = GitRepo(str(git_root))
            try:
                backends.append(repo.get_config())
            finally:
                repo.close()
        backends.extend(StackedConfig.default_backends())
        stacked = StackedConfig(backends)
    except Exception:  # an unreadable git config is not ours to report: fall through
        return lambda _key: None

    def lookup(key: bytes) -> str | None:
        try:
            return stacked.get((b"user",), key).decode()
        except (KeyError, UnicodeDecodeError):
            return None

    return lookup


def author(config: dict[str, Any], root: Path | None = None) -> str:
    """``Name <email>`` for a commit or tag made in the project at ``root``."""
    env = os.environ.get("DVAULT_AUTHOR")
    if env:
        return env
    name = os.environ.get("GIT_AUTHOR_NAME") or cfg.get(config, "user.name")
    email = os.environ.get("GIT_AUTHOR_EMAIL") or cfg.get(config, "user.email")
    if not name or not email:
        git = _git_config(root)
        name = name or git(b"name")
        email = email or git(b"email")
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
    if not email:
        email = f"{name}@{socket.gethostname()}"
    return f"{name} <{email}>"
