"""The remote's marker, ``dvault-remote.json``: written once, read by every client first.

It says that a location is a dvault remote and what every client must know before using
it: the branches it protects (fixed when the remote is created, since the marker is
create-only) and, for an encrypted remote, how to unlock it (:mod:`dvault.remote.keys`
writes and checks that part). Its name and its parsing live here, below the ref log,
the keys and the session that all read it, so none of them imports another for it.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from dvault.commitobjects import canonical_json
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


def read_marker(backend: Backend, seen: Path | None = None) -> dict[str, Any] | None:
    """The remote's marker, or None when there is none yet.

    ``seen`` is where this clone keeps the marker it read before (``.dvault/remotes/<name>/
    marker.json``). The marker is create-only and what counts is its first version, which
    on S3 costs a version listing to find; when the version served now is byte for byte
    the one seen before, the first version is that one and the listing is skipped. Any
    other answer (a replaced marker, a remote made anew) takes the full read.
    """
    known: bytes | None = None
    if seen is not None:
        with contextlib.suppress(OSError):
            known = seen.read_bytes()
    raw: bytes | None = None
    try:
        if known is not None and backend.read_current(MARKER, MAX_MARKER) == known:
            raw = known
        if raw is None:
            raw = backend.read(MARKER, MAX_MARKER)
    except RemoteNotFound:
        return None
    value = _decode(raw, backend)
    if seen is not None and raw != known:
        _remember(seen, raw)
    return value


def _decode(raw: bytes, backend: Backend) -> dict[str, Any]:
    try:
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError):
        raise RemoteError(f"remote {backend.describe()}: {MARKER} is not valid JSON") from None
    return value


def _remember(path: Path, raw: bytes) -> None:
    """Keep the marker read (a cache: atomic, not fsynced; never fails the operation)."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, path)


def read_protected(backend: Backend) -> tuple[str, ...]:
    """The protected-branch patterns the remote's marker declares (none without one)."""
    return protected_of(read_marker(backend), f"remote {backend.describe()}")


def protected_of(marker: dict[str, Any] | None, where: str) -> tuple[str, ...]:
    """The protected-branch patterns of a decoded marker (none without one)."""
    patterns = [] if marker is None else marker.get("protect", [])
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        raise RemoteTampered(f"{where}: {MARKER} holds a malformed list of protected branches")
    return tuple(sorted(set(patterns)))


__all__ = ["MARKER", "marker_bytes", "protected_of", "read_marker", "read_protected"]
