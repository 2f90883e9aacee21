"""Which backend serves a remote URL: the one place that knows every implementation.

The storage interface (:mod:`dvault.remote.backend`) names no implementation, and each
implementation (:mod:`~dvault.remote.directory`, :mod:`~dvault.remote.s3`) imports only
the interface; this factory sits above them all, as kopia keeps its storage factory in
``repo/blob/registry.go``, apart from the interface. A new backend is a module beside
``directory.py`` and one branch here.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from dvault import config as cfg
from dvault.errors import UsageError
from dvault.remote.backend import Backend, RemoteSpec
from dvault.remote.directory import DirectoryBackend
from dvault.remote.s3 import S3Backend

_SCHEMES = ("s3", "file")


def _suggest(url: str) -> str | None:
    """The URL the user probably meant, for one whose scheme is mistyped."""
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)(:/{0,3}|:?//)(.*)$", url)
    if m is None:
        return None
    scheme, sep, rest = m.group(1).lower(), m.group(2), m.group(3)
    close = [s for s in _SCHEMES if s == scheme or _one_edit(s, scheme)]
    if not close:
        return None
    if close[0] == "file":
        return "file:///" + rest.lstrip("/")
    if close[0] == m.group(1) and sep == "://":
        return None
    return "s3://" + rest.lstrip("/")


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by one substitution, insertion or deletion."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def check_url(url: str) -> None:
    """Refuse a remote URL that is neither a path, ``file:///path`` nor ``s3://bucket``:
    a mistyped scheme (``s3:/bucket/x``, ``s3//b``, ``s4://b``, ``file:/x``) or a drive
    letter (``C:\\data`` on posix) would otherwise become a directory named after it."""
    if url.startswith("s3://") and len(url) > len("s3://") and not url.startswith("s3:///"):
        return
    if url.startswith("file:///") or url.startswith("/"):
        return
    guess = _suggest(url)
    if guess is not None and guess != url:
        raise UsageError(f"remote URL {url!r} looks mistyped: did you mean {guess}?")
    if re.match(r"^[A-Za-z]:([\\/]|$)", url):
        raise UsageError(f"remote URL {url!r} looks like a Windows drive path, not a path here")
    first = url.split("/", 1)[0]
    if ":" in first:
        raise UsageError(
            f"unsupported remote URL {url!r} (use a path, file:///path or s3://bucket/prefix)"
        )


def directory_of(spec: RemoteSpec, project: Path | None = None) -> Path | None:
    """The directory of a directory remote (None for S3)."""
    url = spec.url
    if url.startswith("s3://"):
        return None
    if url.startswith("file://"):
        url = url[len("file://") :]
    path = Path(url)
    if not path.is_absolute() and project is not None:
        path = project / path
    return path


def open_backend(spec: RemoteSpec, project: Path | None = None) -> Backend:
    """The backend for a remote URL: ``s3://bucket/prefix``, ``file:///path`` or a path
    (relative to ``project`` when given)."""
    url = spec.url
    if url.startswith("s3://"):
        return S3Backend(spec)
    if url.startswith("file://"):
        url = url[len("file://") :]
    elif "://" in url:
        raise UsageError(f"unsupported remote URL {spec.url!r} (use a path, file:// or s3://)")
    path = Path(url)
    if not path.is_absolute() and project is not None:
        path = project / path
    backend = DirectoryBackend(path)
    backend.name = spec.name
    return backend


DEFAULT_KEY = "remotes.default"
"""Where ``dvault remote default NAME`` records the default remote (``[remotes] default``
in ``.dvault/config.local``; the committed config may name one too, and this clone's wins)."""
LEGACY_KEY = "git.remote"
"""The hooks' remote before ``remote default`` existed: still honoured, below it."""


def default_remote(config: dict[str, Any], names: Collection[str]) -> tuple[str, str]:
    """The remote to use when none is named, and why it is the one: ``[remotes] default``
    (set with ``dvault remote default NAME``), else the deprecated ``[git] remote``, else
    the only remote, else ``origin``. A configured default that names no remote, or a
    choice that cannot be made, is one error naming the command that fixes it."""
    for key, why in ((DEFAULT_KEY, "dvault remote default"), (LEGACY_KEY, "[git] remote")):
        value = cfg.get(config, key)
        if value is None:
            continue
        if not isinstance(value, str) or value not in names:
            shown = repr(value) if isinstance(value, str) else "a non-name"
            fix = (
                "dvault remote default NAME (one of: " + ", ".join(sorted(names)) + ")"
                if names
                else "dvault remote add NAME URL"
            )
            raise UsageError(f"the default remote {shown} ({why}) is not configured; run {fix}")
        return value, why
    if len(names) == 1:
        return next(iter(names)), "the only remote"
    if "origin" in names:
        return "origin", "no default set: origin"
    if not names:
        raise UsageError("no remote configured; add one with: dvault remote add NAME URL")
    raise UsageError(
        f"several remotes ({', '.join(sorted(names))}) and no default: name one, or "
        "choose the default with: dvault remote default NAME"
    )


__all__ = [
    "DEFAULT_KEY",
    "LEGACY_KEY",
    "check_url",
    "default_remote",
    "directory_of",
    "open_backend",
]
