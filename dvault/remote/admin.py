"""The admin credential: the one way dvault ever deletes a file on a remote (``prune``).

:class:`~dvault.remote.backend.Backend` has no delete verb, and stays so: every command but
``prune`` works through it, with the pusher credential. A :class:`Deleter` is opened only by
``prune``, only from a credential configured apart from the pusher's:

* S3: the ``admin_profile`` of ``[remote "NAME"]`` in the *local* config
  (``.dvault/config.local`` or the user config: never a committed file), or the
  ``DVAULT_ADMIN_AWS_ACCESS_KEY_ID`` / ``DVAULT_ADMIN_AWS_SECRET_ACCESS_KEY`` (and
  ``DVAULT_ADMIN_AWS_SESSION_TOKEN``) environment. Only that identity's IAM policy allows
  ``s3:DeleteObject`` / ``s3:DeleteObjectVersion`` (docs/retention.md, "The admin
  credential"); without one configured dvault refuses before any request.
* A directory: ``prune --admin``. Files are read-only and the admin mode unlinks them; on a
  plain directory this is a convention, not enforcement (whoever can write to the directory
  can delete, with or without dvault).

Every delete is preceded by asking the storage for the file's retention
(:meth:`Backend.retention`): a file locked until a later date is refused, naming the date.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dvault.errors import UsageError
from dvault.remote.backend import Backend, RemoteError, RemoteSpec
from dvault.remote.directory import DirectoryBackend
from dvault.remote.encrypted import EncryptedBackend
from dvault.remote.s3 import S3Backend

ADMIN_ENV = ("DVAULT_ADMIN_AWS_ACCESS_KEY_ID", "DVAULT_ADMIN_AWS_SECRET_ACCESS_KEY")
SESSION_ENV = "DVAULT_ADMIN_AWS_SESSION_TOKEN"


class Deleter(Protocol):
    """Deletes one file of a remote by its key (every stored version of it)."""

    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class DirectoryDeleter:
    """``prune --admin`` on a directory remote: unlink the read-only file."""

    root: Path

    def delete(self, key: str) -> None:
        if key.startswith("/") or ".." in key.split("/"):
            raise RemoteError(f"remote {self.root}: invalid key {key!r}")
        path = self.root / key
        try:
            os.unlink(path)
        except FileNotFoundError:
            return  # deleted by an earlier, interrupted prune
        except OSError as exc:
            raise RemoteError(f"remote {self.root}: cannot delete {key}: {exc.strerror}") from None


class S3Deleter:
    """Deletes every version of a key with the admin credential (a versioned bucket keeps
    the bytes of a plain delete behind a delete marker: nothing would be freed)."""

    def __init__(self, spec: RemoteSpec, profile: str | None, prefix: str, bucket: str) -> None:
        self.spec = spec
        self.profile = profile
        self.prefix = prefix
        self.bucket = bucket
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # deferred: boto3, ~0.2 s to import

            if self.profile is not None:
                session = boto3.session.Session(profile_name=self.profile)
            else:
                session = boto3.session.Session(
                    aws_access_key_id=os.environ[ADMIN_ENV[0]],
                    aws_secret_access_key=os.environ[ADMIN_ENV[1]],
                    aws_session_token=os.environ.get(SESSION_ENV),
                )
            self._client = session.client(
                "s3", endpoint_url=self.spec.endpoint, region_name=self.spec.region
            )
        return self._client

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # deferred: botocore

        full = self.prefix + key
        try:
            listed = self.client.list_object_versions(Bucket=self.bucket, Prefix=full)
            versions = [
                v["VersionId"]
                for kind in ("Versions", "DeleteMarkers")
                for v in listed.get(kind, [])
                if v.get("Key") == full and isinstance(v.get("VersionId"), str)
            ]
            if not versions:  # an unversioned bucket
                self.client.delete_object(Bucket=self.bucket, Key=full)
            for version in versions:
                self.client.delete_object(Bucket=self.bucket, Key=full, VersionId=version)
        except (ClientError, BotoCoreError) as exc:
            raise RemoteError(
                f"remote {self.spec.name} ({self.spec.url}): cannot delete {key} with the "
                f"admin credential: {exc}"
            ) from None


def open_deleter(backend: Backend, spec: RemoteSpec, local: dict[str, Any], admin: bool) -> Deleter:
    """The admin :class:`Deleter` of a remote, or UsageError when no admin credential is
    configured (then nothing on the remote was touched). ``local``: the local config's
    ``[remote "NAME"]`` section (``admin_profile``); ``admin``: ``prune --admin``."""
    inner = backend.inner if isinstance(backend, EncryptedBackend) else backend
    deleter: Deleter
    if isinstance(inner, DirectoryBackend):
        if not admin:
            raise UsageError(
                f"remote {spec.name}: prune deletes files; on a directory remote pass "
                "--admin to say you are its administrator (nothing was changed)"
            )
        deleter = DirectoryDeleter(inner.root)
    elif isinstance(inner, S3Backend):
        profile = local.get("admin_profile")
        if profile is not None and not isinstance(profile, str):
            raise UsageError(f'[remote "{spec.name}"] admin_profile must be a profile name')
        if profile is None and not all(os.environ.get(name) for name in ADMIN_ENV):
            raise UsageError(
                f"remote {spec.name}: prune needs the admin credential (admin_profile in "
                f'[remote "{spec.name}"] of .dvault/config.local, or '
                f"{ADMIN_ENV[0]} and {ADMIN_ENV[1]}); the pusher credential never deletes. "
                "Nothing was changed"
            )
        if profile is not None and profile == spec.profile:
            raise UsageError(
                f"remote {spec.name}: admin_profile is the pusher's profile; the admin "
                "credential must be a separate identity (nothing was changed)"
            )
        deleter = S3Deleter(spec, profile, inner.prefix, inner.bucket)
    else:
        raise UsageError(f"remote {spec.name}: prune does not support this kind of remote")
    if isinstance(backend, EncryptedBackend):
        return _EncryptedNames(backend, deleter)
    return deleter


@dataclass(frozen=True)
class _EncryptedNames:
    """Deletes a plaintext key of an encrypted remote under its stored name."""

    backend: EncryptedBackend
    inner: Deleter

    def delete(self, key: str) -> None:
        self.inner.delete(self.backend.stored_name(key))
