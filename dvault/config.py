"""``.dvault/config``: TOML settings, meant to be committed to git with the project.

Only settings live here, never credentials. Unknown keys are kept so newer versions can
add settings without older ones destroying them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from dvault.errors import CorruptObject
from dvault.fsutil import write_durable

DEFAULT: dict[str, Any] = {"core": {"format": 1}}


def load(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise CorruptObject(f"cannot parse {path}: {exc}") from None


def save(path: Path, config: dict[str, Any]) -> None:
    import tomli_w

    write_durable(path, tomli_w.dumps(config).encode())


def get(config: dict[str, Any], dotted: str, default: Any = None) -> Any:
    """``get(cfg, "user.name")``."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node
