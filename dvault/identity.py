"""Who is committing: DVAULT_AUTHOR, else ``user.name``/``user.email`` from the dvault
config, else from git's configuration (read with dulwich), else the login and host name."""

from __future__ import annotations

import getpass
import os
import socket
from typing import Any

from dvault import config as cfg


def _from_git() -> tuple[str | None, str | None]:
    try:
        from dulwich.config import StackedConfig

        stacked = StackedConfig.default()
        name = stacked.get((b"user",), b"name").decode()
        email = stacked.get((b"user",), b"email").decode()
        return name, email
    except (KeyError, ImportError, OSError, UnicodeDecodeError):
        return None, None


def author(config: dict[str, Any]) -> str:
    env = os.environ.get("DVAULT_AUTHOR")
    if env:
        return env
    name = cfg.get(config, "user.name")
    email = cfg.get(config, "user.email")
    if not name or not email:
        git_name, git_email = _from_git()
        name, email = name or git_name, email or git_email
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
    if not email:
        email = f"{name}@{socket.gethostname()}"
    return f"{name} <{email}>"
