"""The storage interface every remote implements: named, immutable files.

A backend can create a file (only if the name is free), read it whole or by byte range,
and list names. There is deliberately no way to delete or overwrite: dvault's guarantee
that a remote is append-only starts with the interface having no verb for anything else.

Every read is bounded by a size the caller states (``read(key, limit)``,
``download(..., limit=)``): whoever can write to a remote chooses how big its files are,
so no reader may let a file decide how much memory or disk it takes. The per-kind
maxima below are the limits for files whose size no listing bounds.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvault.errors import DvaultError


class RemoteError(DvaultError):
    """A remote could not be reached, refused a request, or holds bad data."""


class AlreadyExists(RemoteError):
    """A create-only write found the name taken."""


class RemoteNotFound(RemoteError):
    """A name the remote does not hold."""


class DecryptionFailed(RemoteError):
    """Stored bytes of an encrypted remote that fail authentication: altered, truncated,
    or under another key (raised by :mod:`dvault.remote.encrypted`; here so that readers
    such as the ref log can tell it apart without importing the cipher)."""


class RemoteTampered(RemoteError):
    """The remote's ref log was rewritten or truncated since we last saw it."""


class TooLarge(RemoteError):
    """A remote file is larger than the most its kind may hold: refused unread."""


MAX_MARKER = 64 << 10
"""The marker ``dvault-remote.json``: a few hundred bytes (format, protected branches,
encryption parameters)."""
MAX_KEY_SLOT = 16 << 10
"""One key slot of an encrypted remote: ~450 bytes plus its label."""
MAX_FOOTER = 96 << 20
"""A pack footer: 56 bytes an object; a 64 MiB pack of empty objects lists ~1.4 million."""


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


@dataclass(frozen=True)
class Retention:
    """What the storage says protects one file from deletion (S3 Object Lock)."""

    mode: str | None
    """``COMPLIANCE`` or ``GOVERNANCE`` (as the storage reports it); None: no lock."""
    until: str | None
    """The retain-until date, ISO 8601 UTC; None: no lock."""


class Backend(abc.ABC):
    """Named immutable files. Keys are ``/``-separated relative names."""

    url: str
    name: str | None = None
    """The configured remote's name, when opened from the config (for messages)."""

    @property
    def where(self) -> str:
        """How messages name this remote: ``nas (/mnt/nas/vision)``, else the URL."""
        return f"{self.name} ({self.url})" if self.name else self.url

    @abc.abstractmethod
    def create(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` unless the key exists (then :class:`AlreadyExists`)."""

    @abc.abstractmethod
    def upload(self, key: str, path: Path, progress: Progress | None = None) -> None:
        """Create-only upload of a local file, streamed."""

    @abc.abstractmethod
    def read(self, key: str, limit: int) -> bytes:
        """The whole file (:class:`RemoteNotFound` if absent) when it holds at most
        ``limit`` bytes; a larger one is :class:`TooLarge`, refused before its body is
        read. Pass the listed size when there is one, else the kind's maximum above."""

    def read_current(self, key: str, limit: int) -> bytes:
        """The key's bytes as the storage serves them now, without the lookup of its first
        version that :meth:`read` makes where keys can be written again (S3). Only for a
        comparison with bytes :meth:`read` returned before: never trust what it returns."""
        return self.read(key, limit)

    def lock(self) -> str:
        """How this kind of storage protects what dvault wrote, in words (for a review)."""
        return "no retention lock: whoever can write to the storage can delete"

    def retention(self, key: str) -> Retention | None:
        """The lock the storage reports on ``key`` (None: this storage has no such
        thing; a :class:`Retention` of Nones: it has, and ``key`` carries none)."""
        return None

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
    def download(
        self, key: str, dest: Path, progress: Progress | None = None, *, limit: int
    ) -> None:
        """Stream the file into ``dest`` (which must not exist), refusing it
        (:class:`TooLarge`) as soon as it turns out larger than ``limit`` bytes."""

    @abc.abstractmethod
    def list(self, prefix: str) -> dict[str, int]:
        """Keys under ``prefix`` (a directory-like prefix ending in ``/``) and their sizes."""

    def size(self, key: str) -> int | None:
        """Size of ``key``, or None when absent."""
        parent, _, _ = key.rpartition("/")
        return self.list(parent + "/" if parent else "").get(key)

    def same_as(self, key: str, local: Path) -> bool | None:
        """Whether ``key`` holds exactly the bytes of the local file ``local``, when the
        storage can tell without sending them (None: it cannot; read it to know)."""
        return None

    @property
    def version_blind(self) -> bool:
        """True when the storage may keep older versions but this credential may not list
        them, so a replaced file would go unnoticed (S3 without s3:ListBucketVersions)."""
        return False

    def overwritten(self) -> dict[str, int]:
        """Create-only keys found written more than once (key -> number of versions),
        among those listed or read so far; reads of them return the *first* version
        written. Only storage that keeps versions can tell (a versioned S3 bucket): a
        directory remote's files are read-only and replaced by nobody dvault lets in."""
        return {}

    def describe(self) -> str:
        return self.url

    def too_large(self, key: str, size: int | str, limit: int) -> TooLarge:
        return TooLarge(
            f"remote {self.describe()}: {key} holds {size} bytes, more than the {limit} "
            "such a file may hold; not read"
        )
