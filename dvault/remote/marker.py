"""The remote's marker, ``dvault-remote.json``: written once, read by every client first.

It says that a location is a dvault remote and what every client must know before using
it: the branches it protects (fixed when the remote is created, since the marker is
create-only) and, for an encrypted remote, how to unlock it (:mod:`dvault.remote.keys`
writes and checks that part). Its name and its parsing live here, below the ref log,
the keys and the session that all read it, so none of them imports another for it.
"""

from __future__ import annotations

import json
from typing import Any

from dvault.objects import canonical_json
from dvault.remote.backend import MAX_MARKER, Backend, RemoteError, RemoteNotFound, RemoteTampered

MARKER = "dvault-remote.json"
"""The remote's create-only marker: ``{"format":1,"kind":"dvault-remote"}`` plus, when
the remote was created with protected branches, ``"protect":[<sorted patterns>]``."""


def marker_bytes(protect: tuple[str, ...] = (), encryption: dict[str, Any] | None = None) -> bytes:
    """The create-only marker ``dvault-remote.json``: what every client must know about
    a remote before using it (protected branches; encryption, see keys.py)."""
    value: dict[str, Any] = {"format": 1, "kind": "dvault-remote"}
    if protect:
        value["protect"] = sorted(set(protect))
    if encryption is not None:
        value["encryption"] = encryption
    return canonical_json(value) + b"\n"


def read_marker(backend: Backend) -> dict[str, Any] | None:
    """The remote's marker, or None when there is none yet."""
    try:
        raw = backend.read(MARKER, MAX_MARKER)
    except RemoteNotFound:
        return None
    try:
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError):
        raise RemoteError(f"remote {backend.describe()}: {MARKER} is not valid JSON") from None
    return value


def read_protected(backend: Backend) -> tuple[str, ...]:
    """The protected-branch patterns the remote's marker declares (none without one)."""
    try:
        raw = backend.read(MARKER, MAX_MARKER)
    except RemoteNotFound:
        return ()
    where = f"remote {backend.describe()}: {MARKER}"
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RemoteError(f"{where} is not valid JSON") from None
    patterns = value.get("protect", []) if isinstance(value, dict) else None
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        raise RemoteTampered(f"{where} holds a malformed list of protected branches")
    return tuple(sorted(set(patterns)))


__all__ = ["MARKER", "marker_bytes", "read_marker", "read_protected"]
