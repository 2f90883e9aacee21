"""A remote on any S3-compatible object store (AWS S3, MinIO, Ceph RGW), through boto3.

boto3 is the reference S3 client: it speaks every feature dvault relies on (conditional
``If-None-Match: *`` puts, Object Lock retention headers, SHA-256 integrity checksums,
byte-range gets), reads credentials the standard AWS way (environment, profiles, instance
roles) and retries transient errors. Its ~0.2 s import is paid only by commands that talk
to S3.

* Writes are create-only: ``PutObject`` with ``If-None-Match: *``; S3 answers 412 when the
  key exists, and the existing object is untouched.
* Every write carries a SHA-256 checksum that S3 verifies on receipt, and is then checked
  with ``HeadObject`` (size and checksum) before dvault relies on it.
* With ``retention_days`` every object gets an Object Lock retain-until date
  (COMPLIANCE mode): nobody, not even the account root, can delete it before then.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from pathlib import Path
from typing import Any

from dvault.errors import UsageError
from dvault.remote.backend import (
    AlreadyExists,
    Backend,
    Progress,
    RemoteError,
    RemoteNotFound,
    RemoteSpec,
)


class _ProgressReader:
    """A file wrapper that reports bytes as boto3 reads them."""

    def __init__(self, f: Any, progress: Progress) -> None:
        self.f = f
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.f.read(size)
        self.progress(len(data))
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        result: int = self.f.seek(offset, whence)
        return result

    def tell(self) -> int:
        result: int = self.f.tell()
        return result


class S3Backend(Backend):
    def __init__(self, spec: RemoteSpec) -> None:
        rest = spec.url[len("s3://") :]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise UsageError(f"S3 URL needs a bucket: {spec.url!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = spec.url
        self.spec = spec
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session(profile_name=self.spec.profile)
            config = Config(
                retries={"max_attempts": 6, "mode": "standard"},
                max_pool_connections=32,
                connect_timeout=10,
                read_timeout=60,
                s3={"addressing_style": "path"} if self.spec.endpoint else {},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            try:
                self._client = session.client(
                    "s3",
                    endpoint_url=self.spec.endpoint,
                    region_name=self.spec.region,
                    config=config,
                )
            except Exception as exc:
                raise RemoteError(f"remote {self.url}: cannot create an S3 client: {exc}") from None
        return self._client

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _error(self, exc: Exception, action: str, key: str) -> RemoteError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "?")
            message = exc.response.get("Error", {}).get("Message", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                return RemoteNotFound(f"remote {self.url}: {key} is missing")
            return RemoteError(
                f"remote {self.url}: cannot {action} {key}: {code} {message}".strip()
            )
        return RemoteError(f"remote {self.url}: cannot {action} {key}: {exc}")

    def _lock_args(self) -> dict[str, Any]:
        days = self.spec.retention_days
        if not days:
            return {}
        until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=int(days))
        return {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until}

    def _put(self, key: str, body: Any, length: int, sha256: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        checksum = base64.b64encode(sha256).decode()
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=body,
                ContentLength=length,
                IfNoneMatch="*",
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
                **self._lock_args(),
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "PreconditionFailed" or status == 412:
                raise AlreadyExists(f"remote {self.url}: {key} already exists") from None
            raise self._error(exc, "write", key) from None
        except BotoCoreError as exc:
            raise self._error(exc, "write", key) from None
        self._check_written(key, length, checksum)

    def _check_written(self, key: str, length: int, checksum: str) -> None:
        """Confirm the object S3 now holds is the one we sent (size and SHA-256)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(
                Bucket=self.bucket, Key=self._key(key), ChecksumMode="ENABLED"
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "check", key) from None
        if head.get("ContentLength") != length:
            raise RemoteError(f"remote {self.url}: {key} was stored with the wrong size")
        stored = head.get("ChecksumSHA256")
        if stored is not None and stored.split("-")[0] != checksum:
            raise RemoteError(f"remote {self.url}: {key} was stored with a different checksum")

    def create(self, key: str, data: bytes) -> None:
        self._put(key, data, len(data), hashlib.sha256(data).digest())

    def upload(self, key: str, path: Path, progress: Progress | None = None) -> None:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(8 << 20):
                digest.update(block)
            length = f.tell()
            f.seek(0)
            body: Any = f if progress is None else _ProgressReader(f, progress)
            self._put(key, body, length, digest.digest())

    def _get(self, key: str, **extra: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key), **extra)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "read", key) from None

    def read(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError

        try:
            data: bytes = self._get(key)["Body"].read()
        except BotoCoreError as exc:
            raise self._error(exc, "read", key) from None
        return data

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        from botocore.exceptions import BotoCoreError

        if length <= 0:
            return b""
        try:
            data: bytes = self._get(key, Range=f"bytes={offset}-{offset + length - 1}")[
                "Body"
            ].read()
        except BotoCoreError as exc:
            raise self._error(exc, "read", key) from None
        return data

    def download(self, key: str, dest: Path, progress: Progress | None = None) -> None:
        from botocore.exceptions import BotoCoreError

        body = self._get(key)["Body"]
        try:
            with open(dest, "xb") as f:
                for block in body.iter_chunks(8 << 20):
                    f.write(block)
                    if progress is not None:
                        progress(len(block))
        except BotoCoreError as exc:
            raise self._error(exc, "download", key) from None

    def list(self, prefix: str) -> dict[str, int]:
        from botocore.exceptions import BotoCoreError, ClientError

        found: dict[str, int] = {}
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    found[item["Key"][len(self.prefix) :]] = item["Size"]
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "list", prefix or "/") from None
        return found

    def size(self, key: str) -> int | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(exc, "stat", key) from None
        except BotoCoreError as exc:
            raise self._error(exc, "stat", key) from None
        size: int = head["ContentLength"]
        return size
