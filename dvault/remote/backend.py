"""The storage interface every remote implements: named, immutable files.

A backend can create a file (only if the name is free), read it whole or by byte range,
and list names. There is deliberately no way to delete or overwrite: dvault's guarantee
that a remote is append-only starts with the interface having no verb for anything else.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvault.errors import DvaultError, UsageError


class RemoteError(DvaultError):
    """A remote could not be reached, refused a request, or holds bad data."""


class AlreadyExists(RemoteError):
    """A create-only write found the name taken."""


class RemoteNotFound(RemoteError):
    """A name the remote does not hold."""


class RemoteTampered(RemoteError):
    """The remote's ref log was rewritten or truncated since we last saw it."""


@dataclass(frozen=True)
class RemoteSpec:
    """A configured remote (``[remote.NAME]`` in ``.dvault/config``); never credentials."""

    name: str
    url: str
    endpoint: str | None = None
    region: str | None = None
    retention_days: int | None = None
    profile: str | None = None
    encrypt: bool = False  # client-side encryption (remote/encrypted.py): pinned, never dropped
    key_id: str | None = None  # the encrypted remote's key id, to notice a replaced remote

    @classmethod
    def from_config(cls, name: str, section: dict[str, Any]) -> RemoteSpec:
        return cls(
            name=name,
            url=str(section["url"]),
            endpoint=section.get("endpoint"),
            region=section.get("region"),
            retention_days=section.get("retention_days"),
            profile=section.get("profile"),
            encrypt=bool(section.get("encrypt", False)),
            key_id=section.get("key_id"),
        )

    def to_config(self) -> dict[str, Any]:
        fields = {
            "url": self.url,
            "endpoint": self.endpoint,
            "region": self.region,
            "retention_days": self.retention_days,
            "profile": self.profile,
            "encrypt": self.encrypt or None,
            "key_id": self.key_id,
        }
        return {k: v for k, v in fields.items() if v is not None}


Progress = Callable[[int], None]


class Backend(abc.ABC):
    """Named immutable files. Keys are ``/``-separated relative names."""

    url: str

    @abc.abstractmethod
    def create(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` unless the key exists (then :class:`AlreadyExists`)."""

    @abc.abstractmethod
    def upload(self, key: str, path: Path, progress: Progress | None = None) -> None:
        """Create-only upload of a local file, streamed."""

    @abc.abstractmethod
    def read(self, key: str) -> bytes:
        """The whole file (:class:`RemoteNotFound` if absent)."""

    @abc.abstractmethod
    def read_range(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer only at the end of the file)."""

    def read_exact(self, key: str, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes from ``offset``: a short answer (a connection cut
        mid-transfer, a truncated file) is a :class:`RemoteError` naming it, not bytes a
        decoder would then call tampered."""
        data = self.read_range(key, offset, length)
        if len(data) != length:
            raise RemoteError(
                f"remote {self.describe()}: short read of {key} ({len(data)} of {length} "
                f"bytes at offset {offset}); the transfer was cut or the file is truncated"
            )
        return data

    @abc.abstractmethod
    def download(self, key: str, dest: Path, progress: Progress | None = None) -> None:
        """Stream the file into ``dest`` (which must not exist)."""

    @abc.abstractmethod
    def list(self, prefix: str) -> dict[str, int]:
        """Keys under ``prefix`` (a directory-like prefix ending in ``/``) and their sizes."""

    def size(self, key: str) -> int | None:
        """Size of ``key``, or None when absent."""
        parent, _, _ = key.rpartition("/")
        return self.list(parent + "/" if parent else "").get(key)

    def describe(self) -> str:
        return self.url


def open_backend(spec: RemoteSpec, project: Path | None = None) -> Backend:
    """The backend for a remote URL: ``s3://bucket/prefix``, ``file:///path`` or a path."""
    url = spec.url
    if url.startswith("s3://"):
        from dvault.remote.s3 import S3Backend

        return S3Backend(spec)
    if url.startswith("file://"):
        url = url[len("file://") :]
    elif "://" in url:
        raise UsageError(f"unsupported remote URL {spec.url!r} (use a path, file:// or s3://)")
    from dvault.remote.directory import DirectoryBackend

    path = Path(url)
    if not path.is_absolute() and project is not None:
        path = project / path
    return DirectoryBackend(path)
