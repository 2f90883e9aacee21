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
* With ``retention_days`` every object is under Object Lock (COMPLIANCE mode) for at
  least that long: nobody, not even the account root, can delete it before then. The
  bucket's default retention provides it when it covers ``retention_days`` (then the
  pusher needs no ``s3:PutObjectRetention``, so a leaked pusher cannot lock junk for a
  century); otherwise each write carries its own retain-until date.

Create-only is a header the *client* sends: a credential allowed a plain ``PutObject``
can replace any key (docs/remotes.md gives the bucket policy that refuses it where the
server can). On a versioned bucket (Object Lock implies versioning) the replaced bytes
stay as an older version, so listings use ``ListObjectVersions``: a key written more than
once is reported (:meth:`S3Backend.overwritten`) and read at its *first* version, the
one the create-only write made. On a bucket without versions nothing older survives;
listing then behaves as before.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
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
    Retention,
)

_OUR_KEY = re.compile(r"[A-Za-z0-9._/-]{1,512}")
"""Keys dvault writes (and may report): anything else on the bucket is not ours."""
_DENIED = ("AccessDenied", "403", "Forbidden", "NotImplemented", "501")


@dataclass(frozen=True)
class _Version:
    version_id: str
    size: int
    etag: str
    modified: datetime.datetime


def _first_written(versions: list[_Version]) -> _Version:
    """The oldest version (S3 lists a key's versions newest first: on equal times the
    last one listed is the oldest)."""
    oldest = versions[-1]
    for version in reversed(versions):
        if version.modified < oldest.modified:
            oldest = version
    return oldest


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
        self.name = spec.name
        self.spec = spec
        self._client: Any = None
        self._lock = threading.Lock()
        self._versioned: bool | None = None  # False once listing versions was refused
        self._listed: set[str] = set()  # prefixes listed with their versions
        self._probed: set[str] = set()  # keys whose versions were looked up one by one
        self._first: dict[str, str] = {}  # key written more than once -> first version id
        self._overwritten: dict[str, int] = {}  # ... with different bytes -> versions
        self._default_days: int | None = None  # the bucket's default COMPLIANCE retention
        self._default_known = False

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # deferred: boto3, ~0.2 s to import
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
                raise RemoteError(
                    f"remote {self.where}: cannot create an S3 client: {exc}"
                ) from None
        return self._client

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _error(self, exc: Exception, action: str, key: str) -> RemoteError:
        # deferred: botocore, paid only by commands that talk to S3
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "?")
            message = exc.response.get("Error", {}).get("Message", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                return RemoteNotFound(f"remote {self.where}: {key} is missing")
            return RemoteError(
                f"remote {self.where}: cannot {action} {key}: {code} {message}".strip()
            )
        return RemoteError(f"remote {self.where}: cannot {action} {key}: {exc}")

    def default_retention(self) -> int | None:
        """Days of the bucket's default Object Lock retention in COMPLIANCE mode (None:
        no such default, or not allowed to read it); asked once."""
        # deferred: botocore, paid only by commands that talk to S3
        from botocore.exceptions import BotoCoreError, ClientError

        with self._lock:
            if self._default_known:
                return self._default_days
        days = None
        try:
            config = self.client.get_object_lock_configuration(Bucket=self.bucket)
            rule = config.get("ObjectLockConfiguration", {}).get("Rule", {})
            default = rule.get("DefaultRetention", {})
            if default.get("Mode") == "COMPLIANCE":
                days = int(default.get("Days") or 0) + 365 * int(default.get("Years") or 0)
        except (ClientError, BotoCoreError):
            days = None  # no Object Lock configuration, or no right to read it
        with self._lock:
            self._default_days, self._default_known = days or None, True
        return days or None

    def _lock_args(self) -> dict[str, Any]:
        """Per-object retention only where the bucket's default does not already cover
        ``retention_days`` (the documented pusher may not set it: docs/remotes.md)."""
        days = self.spec.retention_days
        if not days or (self.default_retention() or 0) >= int(days):
            return {}
        until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=int(days))
        return {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until}

    def _put(self, key: str, body: Any, length: int, sha256: bytes) -> None:
        # deferred: botocore, paid only by commands that talk to S3
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
                raise AlreadyExists(f"remote {self.where}: {key} already exists") from None
            raise self._error(exc, "write", key) from None
        except BotoCoreError as exc:
            raise self._error(exc, "write", key) from None
        self._check_written(key, length, checksum)

    def _check_written(self, key: str, length: int, checksum: str) -> None:
        """Confirm the object S3 now holds is the one we sent (size and SHA-256)."""
        # deferred: botocore, paid only by commands that talk to S3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(
                Bucket=self.bucket, Key=self._key(key), ChecksumMode="ENABLED"
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "check", key) from None
        if head.get("ContentLength") != length:
            raise RemoteError(f"remote {self.where}: {key} was stored with the wrong size")
        stored = head.get("ChecksumSHA256")
        if stored is not None and stored.split("-")[0] != checksum:
            raise RemoteError(f"remote {self.where}: {key} was stored with a different checksum")

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

    def _version_of(self, key: str) -> dict[str, Any]:
        """``VersionId`` of the first version of a key written more than once (learned
        from a listing, or looked up now for a key under no listed prefix)."""
        with self._lock:
            known = any(key.startswith(p) for p in self._listed) or key in self._probed
            versioned = self._versioned
        if not known and versioned is not False and _OUR_KEY.fullmatch(key):
            self._list_versions(key, exact=True)
        with self._lock:
            first = self._first.get(key)
        return {} if first is None else {"VersionId": first}

    def _get(self, key: str, *, current: bool = False, **extra: Any) -> Any:
        # deferred: botocore, paid only by commands that talk to S3
        from botocore.exceptions import BotoCoreError, ClientError

        if not current:
            extra.update(self._version_of(key))
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key), **extra)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "read", key) from None

    def read(self, key: str, limit: int) -> bytes:
        return self._read(key, limit, current=False)

    def read_current(self, key: str, limit: int) -> bytes:
        """The latest version's bytes, without looking the first one up (one GET)."""
        return self._read(key, limit, current=True)

    def _read(self, key: str, limit: int, current: bool) -> bytes:
        # deferred: botocore, paid only by commands that talk to S3
        from botocore.exceptions import BotoCoreError

        response = self._get(key, current=current)
        body = response["Body"]
        try:
            declared = int(response.get("ContentLength", 0))
            if declared > limit:  # refused before a byte of the body is read
                raise self.too_large(key, declared, limit)
            data: bytes = body.read(limit + 1)
        except BotoCoreError as exc:
            raise self._error(exc, "read", key) from None
        finally:
            body.close()
        if len(data) > limit:
            raise self.too_large(key, f"at least {len(data)}", limit)
        return data

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        # deferred: botocore, paid only by commands that talk to S3
        from botocore.exceptions import BotoCoreError

        if length <= 0:
            return b""
        body = self._get(key, Range=f"bytes={offset}-{offset + length - 1}")["Body"]
        try:
            data: bytes = body.read(length)
        except BotoCoreError as exc:
            raise self._error(exc, "read", key) from None
        finally:
            body.close()
        return data

    def download(
        self, key: str, dest: Path, progress: Progress | None = None, *, limit: int
    ) -> None:
        # deferred: botocore, paid only by commands that talk to S3
        from botocore.exceptions import BotoCoreError

        response = self._get(key)
        body = response["Body"]
        try:
            declared = int(response.get("ContentLength", 0))
            if declared > limit:
                raise self.too_large(key, declared, limit)
            written = 0
            with open(dest, "xb") as f:
                for block in body.iter_chunks(8 << 20):
                    written += len(block)
                    if written > limit:
                        raise self.too_large(key, f"at least {written}", limit)
                    f.write(block)
                    if progress is not None:
                        progress(len(block))
        except BotoCoreError as exc:
            raise self._error(exc, "download", key) from None
        finally:
            body.close()

    def list(self, prefix: str) -> dict[str, int]:
        with self._lock:
            versioned = self._versioned
        if versioned is not False:
            found = self._list_versions(prefix)
            if found is not None:
                return found
        return self._list_current(prefix)

    def _list_current(self, prefix: str) -> dict[str, int]:
        # deferred: botocore, paid only by commands that talk to S3
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

    def _list_versions(self, prefix: str, exact: bool = False) -> dict[str, int] | None:
        """Keys under ``prefix`` (or the key ``prefix`` itself, ``exact``) with the size
        of their first version, learning which were written more than once; None when
        the credential may not list versions (then nothing older can be found).

        A key whose latest version is a delete marker was deleted (by an administrator:
        dvault never deletes) and is absent, as ListObjectsV2 would say."""
        # deferred: botocore, paid only by commands that talk to S3
        from botocore.exceptions import BotoCoreError, ClientError

        versions: dict[str, list[_Version]] = {}
        deleted: set[str] = set()
        try:
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                for item in page.get("Versions", ()):
                    key = item["Key"][len(self.prefix) :]
                    versions.setdefault(key, []).append(
                        _Version(
                            str(item.get("VersionId")),
                            int(item["Size"]),
                            str(item.get("ETag")),
                            item["LastModified"],
                        )
                    )
                for item in page.get("DeleteMarkers", ()):
                    if item.get("IsLatest"):
                        deleted.add(item["Key"][len(self.prefix) :])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in _DENIED or status in _DENIED:
                with self._lock:
                    self._versioned = False
                return None
            raise self._error(exc, "list", prefix or "/") from None
        except BotoCoreError as exc:
            raise self._error(exc, "list", prefix or "/") from None
        found: dict[str, int] = {}
        with self._lock:
            self._versioned = True
            if exact:
                self._probed.add(prefix)
            else:
                self._listed.add(prefix)
            for key, written in versions.items():
                if exact and key != prefix:
                    continue
                if key in deleted or not _OUR_KEY.fullmatch(key):
                    self._first.pop(key, None)
                    if key not in deleted:
                        found[key] = written[0].size  # not ours: listed as it is now
                    continue
                first = _first_written(written)
                found[key] = first.size
                if len(written) > 1:
                    self._first[key] = first.version_id
                    if len({(v.size, v.etag) for v in written}) > 1:
                        self._overwritten[key] = len(written)
                else:
                    self._first.pop(key, None)
        return found

    @property
    def version_blind(self) -> bool:
        """True when this credential may not list versions: a replaced object then goes
        unnoticed (docs/remotes.md: the reader and pusher need s3:ListBucketVersions)."""
        with self._lock:
            return self._versioned is False

    def overwritten(self) -> dict[str, int]:
        with self._lock:
            return dict(self._overwritten)

    def same_as(self, key: str, local: Path) -> bool | None:
        """Compare the SHA-256 S3 verified when the object was uploaded (dvault sends one
        with every write) with the local file's: one HEAD, no transfer. None when S3 has
        no whole-object SHA-256 for it (uploaded without one, or in parts)."""
        # deferred: botocore, paid only by commands that talk to S3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(
                Bucket=self.bucket,
                Key=self._key(key),
                ChecksumMode="ENABLED",
                **self._version_of(key),
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "check", key) from None
        stored = head.get("ChecksumSHA256")
        if not isinstance(stored, str) or "-" in stored:
            return None
        digest = hashlib.sha256()
        with open(local, "rb") as f:
            while block := f.read(8 << 20):
                digest.update(block)
        same = head.get("ContentLength") == local.stat().st_size
        return same and stored == base64.b64encode(digest.digest()).decode()

    def lock(self) -> str:
        days = self.spec.retention_days
        default = self.default_retention()
        parts = [f"S3 bucket {self.bucket}"]
        if default:
            parts.append(f"default Object Lock COMPLIANCE retention {default} days")
        if days:
            parts.append(f"every write locked COMPLIANCE for {days} days (--retention)")
        if not default and not days:
            parts.append("no Object Lock retention configured (dvault remote add --retention)")
        return ", ".join(parts)

    def retention(self, key: str) -> Retention | None:
        # deferred: botocore, paid only by commands that talk to S3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(
                Bucket=self.bucket, Key=self._key(key), **self._version_of(key)
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "check the retention of", key) from None
        mode = head.get("ObjectLockMode")
        until = head.get("ObjectLockRetainUntilDate")
        if not isinstance(mode, str) or not isinstance(until, datetime.datetime):
            return Retention(None, None)
        stamp = until.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Retention(mode[:32], stamp)

    def size(self, key: str) -> int | None:
        # deferred: botocore, paid only by commands that talk to S3
        from botocore.exceptions import BotoCoreError, ClientError

        extra = self._version_of(key)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key), **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(exc, "stat", key) from None
        except BotoCoreError as exc:
            raise self._error(exc, "stat", key) from None
        size: int = head["ContentLength"]
        return size


def check_retention(spec: RemoteSpec, warn: Callable[[str], None]) -> int | None:
    """``remote add --retention DAYS`` on S3: say whether the bucket's default Object
    Lock retention covers it (then the pusher needs no ``s3:PutObjectRetention`` and dvault
    sends no per-object date) and warn when it does not. Returns the default's days."""
    days = S3Backend(spec).default_retention()
    wanted = spec.retention_days or 0
    if days is None or days < wanted:
        have = f"{days} days" if days else "none that this credential can read"
        warn(
            f"bucket of {spec.url}: its default COMPLIANCE retention ({have}) does not cover "
            f"--retention {wanted}: every object will carry its own retain-until date, which "
            "needs s3:PutObjectRetention; safer: have the bucket's administrator set a default "
            "retention of at least that many days (docs/remotes.md)"
        )
    return days
