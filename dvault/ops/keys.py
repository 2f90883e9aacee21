"""Passphrases of an encrypted remote (``dvault remote passphrase add|list``).

Operations over the :class:`~dvault.repository.Repository` handle: they open the remote
and call :mod:`dvault.remote.keys`, which knows the key slots and nothing of commands.
"""

from __future__ import annotations

from typing import TypedDict

from dvault.errors import UsageError
from dvault.remote.backend import RemoteSpec
from dvault.remote.encrypted import EncryptedBackend
from dvault.remote.keys import (
    NEW_PASSPHRASE_ENV,
    add_slot,
    ask,
    check_new_cost,
    encryption_of,
    list_slots,
    read_marker,
)
from dvault.remote.registry import open_backend
from dvault.remote.session import Remote
from dvault.repository import Repository


class SlotInfo(TypedDict):
    """One key slot as ``passphrase list`` shows it (its JSON output)."""

    slot: str
    created: str | None
    label: str | None
    kdf_cost: int
    last_used_here: bool


def add_passphrase(repo: Repository, spec: RemoteSpec, log_n: int, label: str | None = None) -> str:
    """Add a key slot for a new passphrase, after unlocking with an existing one; returns
    the slot's name. Nothing else on the remote changes: the data stays encrypted under
    the same repository key."""
    check_new_cost(log_n)
    remote = Remote(repo, spec)
    if not isinstance(remote.backend, EncryptedBackend):
        raise UsageError(f"remote {spec.name} is not encrypted")
    new = ask(spec.name, new=True, env=NEW_PASSPHRASE_ENV)
    return add_slot(remote.backend.inner, remote.backend.keys, new, log_n, label)


def describe_slots(repo: Repository, spec: RemoteSpec) -> list[SlotInfo]:
    """The key slots of an encrypted remote (no passphrase needed: slots are public)."""
    backend = open_backend(spec, repo.root)
    key_id = encryption_of(read_marker(backend), backend.describe())
    if key_id is None:
        raise UsageError(f"remote {spec.name} is not encrypted")
    hint_file = repo.dir / "remotes" / spec.name / "key-slot"
    try:
        hint: str | None = hint_file.read_text().strip()
    except (OSError, UnicodeDecodeError):
        hint = None
    return [
        {
            "slot": name,
            "created": slot.get("created"),
            "label": slot.get("label"),
            "kdf_cost": slot["kdf"]["log_n"],
            "last_used_here": name == hint,
        }
        for name, slot in list_slots(backend, key_id).items()
    ]


__all__ = ["SlotInfo", "add_passphrase", "describe_slots"]
