"""dvault's TOML settings, in three layers, and what each layer may set.

* ``.dvault/config`` — the **project** config, committed to git with the code: remotes
  and shared settings, never credentials. Anyone who can commit to the project (or get a
  pull request merged) writes it, so it is read as hostile input: remote names are
  checked (a name becomes a directory under ``.dvault/remotes/`` and ``refs/remotes/``),
  and it may only *tighten* safety. A setting that loosens it, or that makes dvault act on
  its own (hook automation), or that says who the user is, is ignored there with a
  warning (:class:`ConfigWarning`): see :data:`LOCAL_ONLY`.
* the **user** config, ``$DVAULT_CONFIG_DIR/config``, else
  ``$XDG_CONFIG_HOME/dvault/config``, else ``~/.config/dvault/config`` — this person's
  defaults for every project.
* ``.dvault/config.local`` — **this clone** only. ``.dvault/.gitignore`` ignores every file
  in ``.dvault`` but ``config`` and itself, so it is never committed.

Later layers win, key by key: user, then project, then local. (Git's order too: global,
then the repository's own.) The local file is dvault's and not git's ``.git/config``
because a project need not be a git work tree, dvault reads no git config it does not
own, and ``.dvault/config.local`` sits next to the file it overrides in the same format.

Unknown keys are kept so newer versions can add settings without older ones destroying
them.
"""

from __future__ import annotations

import os
import re
import tomllib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dvault.errors import CorruptObject, InvalidName, UsageError
from dvault.fsutil import write_durable

DEFAULT: dict[str, Any] = {"core": {"format": 1}}
PROJECT_FILE = "config"
LOCAL_FILE = "config.local"


class ConfigWarning(UserWarning):
    """A setting dvault ignored (the CLI prints it as ``dvault: warning: ...``)."""


LOCAL_ONLY: dict[str, tuple[Callable[[object], bool], str]] = {
    "checkout.case-insensitive": (
        lambda value: value is False,
        "false turns off the checks that keep a checkout out of .git on macOS and Windows",
    ),
    "git.commit_data": (
        lambda value: value is not False,
        "it makes the pre-commit hook commit data on its own",
    ),
    "git.follow_branches": (
        lambda value: value is False,
        "false lets a data commit advance a branch other than the git branch checked out",
    ),
    "gc.lost_found_days": (
        lambda value: isinstance(value, bool) or not isinstance(value, int | float) or value < 14,
        "fewer than 14 days makes gc delete the copies checkout --force kept sooner",
    ),
    "user.name": (lambda value: True, "it says who commits"),
    "user.email": (lambda value: True, "it says who commits"),
}
"""Settings the project file may not set, with a test of the values it may not take
(``True``: any value) and why. A new setting that relaxes a check (a cap raised above
its default, a check turned off) belongs here; honoured from the user and local files."""


def load(path: Path) -> dict[str, Any]:
    """One TOML file as it is (empty when absent)."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptObject(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CorruptObject(f"cannot parse {path}: {exc}") from None


def save(path: Path, config: dict[str, Any]) -> None:
    import tomli_w

    write_durable(path, tomli_w.dumps(config).encode())


def user_dir() -> Path:
    """This user's dvault directory — config, signing keys, allowed signers, known remotes:
    ``$DVAULT_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/dvault``, else ``~/.config/dvault``;
    never inside a repository, so nothing a checkout or a git pull writes lands there."""
    base = os.environ.get("DVAULT_CONFIG_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "dvault"


def user_config_path() -> Path:
    """This user's config file (in :func:`user_dir`, beside the signing keys)."""
    return user_dir() / "config"


def load_project(dvault_dir: Path) -> dict[str, Any]:
    """The settings in force for the repository in ``dvault_dir``: the user, project and
    local files merged (later wins), each checked, the project file's loosening values
    dropped with a :class:`ConfigWarning`."""
    merged: dict[str, Any] = {}
    try:
        user: list[tuple[Path, bool]] = [(user_config_path(), False)]
    except RuntimeError:  # no home directory: no user config
        user = []
    layers = [*user, (dvault_dir / PROJECT_FILE, True), (dvault_dir / LOCAL_FILE, False)]
    for path, shared in layers:
        layer = load(path)
        check_remotes(layer, path)
        if shared:
            layer = _only_tightening(layer, path)
        _merge(merged, layer)
    return merged


def _only_tightening(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """``config`` without the settings of :data:`LOCAL_ONLY` it may not set."""
    kept = config
    for dotted, (loosens, why) in LOCAL_ONLY.items():
        section, _, key = dotted.partition(".")
        table = kept.get(section)
        if not isinstance(table, dict) or key not in table or not loosens(table[key]):
            continue
        shown = str(table[key]).lower() if isinstance(table[key], bool) else repr(table[key])
        warnings.warn(
            ConfigWarning(
                f"ignoring {dotted} = {shown} in {path}: that file is committed with "
                f"the project and may only tighten safety ({why}); set it in "
                f"{path.parent / LOCAL_FILE} (this clone) or your user config to apply it"
            ),
            stacklevel=3,
        )
        kept = {**kept, section: {k: v for k, v in table.items() if k != key}}
    return kept


def _merge(into: dict[str, Any], layer: dict[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = {**into[key]}
            _merge(into[key], value)
        else:
            into[key] = value


_BAD_REMOTE = re.compile(r"(^[.-])|(\.\.)|([\x00-\x20~^:?*\[\\\x7f/])|(\.lock$)|(@\{)")


def check_remote_name(name: str, where: str = "") -> None:
    """A remote's name becomes a directory (``.dvault/remotes/NAME``) and a ref prefix
    (``refs/remotes/NAME/``): it must be a valid ref name (refs.check_ref_name's rules)
    with no ``/``, printable, at most 100 characters."""
    if (
        not name
        or name == "@"
        or len(name) > 100
        or not name.isprintable()
        or _BAD_REMOTE.search(name)
    ):
        raise InvalidName(
            f"{where}invalid remote name {name!r}: use one name without '/', '..', spaces "
            "or control characters, not starting with '.' or '-' (e.g. origin)"
        )


_REMOTE_FIELDS: dict[str, type] = {
    "url": str,
    "endpoint": str,
    "region": str,
    "profile": str,
    "key_id": str,
    "retention_days": int,
    "encrypt": bool,
    "admin_profile": str,  # prune's admin credential: read from config.local only
}


def check_remotes(config: dict[str, Any], path: Path) -> None:
    """Every ``[remote.NAME]`` of ``config`` has a valid name, a ``url`` and fields of
    the right types; anything else is one error naming ``path`` (exit 2)."""
    remotes = config.get("remote", {})
    if not isinstance(remotes, dict):
        raise UsageError(f"{path}: [remote] must be a table of remotes")
    for name, section in remotes.items():
        check_remote_name(name, f"{path}: ")
        if not isinstance(section, dict) or not isinstance(section.get("url"), str):
            raise UsageError(f"{path}: remote {name!r} needs a url")
        for key, kind in _REMOTE_FIELDS.items():
            value = section.get(key)
            wrong = value is not None and (
                not isinstance(value, kind) or (kind is int and isinstance(value, bool))
            )
            if wrong:
                raise UsageError(f"{path}: remote {name!r}: {key} must be a {kind.__name__}")


def get(config: dict[str, Any], dotted: str, default: Any = None) -> Any:
    """``get(cfg, "user.name")``."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node
