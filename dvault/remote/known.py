"""Remotes this user has known as encrypted, like ssh's ``known_hosts``.

A new teammate's ``dvault clone URL`` learns whether a remote is encrypted from the
remote's own marker, so whoever can replace the marker (and the first ref-log entry) can
offer a plain remote in its place: no passphrase asked, and the teammate's pushes land in
clear. ``clone --encrypted`` / ``--key-id`` and a committed ``.dvault/config`` carrying
``encrypt``/``key_id`` close that for a project; this file closes it for a user: every
encrypted remote this user unlocked is recorded under the user's dvault directory (never
inside a project), and a location recorded here that turns up plain, or under another key,
is refused loudly.

Format: one line per location, ``<key id, 32 hex> <location>``; ``#`` starts a comment.
A location is ``s3://bucket/prefix`` (plus `` endpoint=URL`` for a non-AWS endpoint) or
``file://`` and the real path of a directory remote.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from dvault.config import user_dir
from dvault.remote.backend import RemoteSpec

FILE_NAME = "known-remotes"
_KEY_ID = re.compile(r"[0-9a-f]{32}")


def known_file() -> Path:
    """``known-remotes`` in the user's dvault directory, beside the signing keys."""
    return user_dir() / FILE_NAME


def location(spec: RemoteSpec, project: Path | None) -> str:
    """The one spelling of where a remote is, whichever way its URL was written."""
    url = spec.url
    if url.startswith("s3://"):
        return url.rstrip("/") + (f" endpoint={spec.endpoint.rstrip('/')}" if spec.endpoint else "")
    if url.startswith("file://"):
        url = url[len("file://") :]
    path = Path(url)
    if not path.is_absolute() and project is not None:
        path = project / path
    return "file://" + os.path.realpath(path)


def lookup(spec: RemoteSpec, project: Path | None) -> str | None:
    """The key id this user last knew the remote encrypted under, or None."""
    where = location(spec, project)
    try:
        text = known_file().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found = None
    for line in text.splitlines():
        key_id, _, place = line.partition(" ")
        if place == where and _KEY_ID.fullmatch(key_id):
            found = key_id  # the last line wins
    return found


def remember(spec: RemoteSpec, project: Path | None, key_id: str) -> None:
    """Record that the remote is encrypted under ``key_id`` (one appended line, written in
    a single call so concurrent writers never interleave). Never fails the operation."""
    where = location(spec, project)
    if not _KEY_ID.fullmatch(key_id) or not where.isprintable():
        return
    path = known_file()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{key_id} {where}\n".encode())
        finally:
            os.close(fd)
