"""Which backend serves a remote URL: the one place that knows every implementation.

The storage interface (:mod:`dvault.remote.backend`) names no implementation, and each
implementation (:mod:`~dvault.remote.directory`, :mod:`~dvault.remote.s3`) imports only
the interface; this factory sits above them all, as kopia keeps its storage factory in
``repo/blob/registry.go``, apart from the interface. A new backend is a module beside
``directory.py`` and one branch here.
"""

from __future__ import annotations

from pathlib import Path

from dvault.errors import UsageError
from dvault.remote.backend import Backend, RemoteSpec
from dvault.remote.directory import DirectoryBackend
from dvault.remote.s3 import S3Backend


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
    return DirectoryBackend(path)


__all__ = ["open_backend"]
