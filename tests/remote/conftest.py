"""Fixtures for the shared remote suite: every test runs against a directory remote and a real
S3 HTTP server (moto's server mode) on loopback, driving the installed ``dvault`` program."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dvault.remote.backend import RemoteSpec
from tests.cli.helpers import Project, base_env

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""Fake credentials: moto accepts any; real ones never reach a test."""


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's real S3 HTTP server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class RemoteTarget:
    """One remote location and raw (non-dvault) access to what it holds."""

    kind: str  # "dir" or "s3"
    url: str
    env: dict[str, str]
    options: list[str] = field(default_factory=list)
    root: Path | None = None  # directory remotes
    bucket: str = ""  # S3 remotes
    prefix: str = ""
    endpoint: str | None = None
    client: Any = None

    def add_args(self, name: str = "origin", *extra: str) -> list[str]:
        """Arguments for ``dvault remote add NAME URL ...``."""
        return ["remote", "add", "--init", name, self.url, *self.options, *extra]

    def clone_args(self, dest: Path, *extra: str, paths: list[str] | None = None) -> list[str]:
        """Arguments for ``dvault clone URL DEST ... [-- PATHS]``."""
        tail = ["--", *paths] if paths else []
        return ["clone", self.url, str(dest), *self.options, *extra, *tail]

    def spec(self, name: str = "origin", retention_days: int | None = None) -> RemoteSpec:
        return RemoteSpec(name, self.url, self.endpoint, None, retention_days)

    def keys(self, prefix: str = "") -> dict[str, int]:
        """Every object under ``prefix`` and its size (directory: ``tmp/`` excluded)."""
        if self.kind == "dir":
            assert self.root is not None
            found = {}
            for dirpath, _dirs, files in os.walk(self.root):
                for name in files:
                    rel = (Path(dirpath) / name).relative_to(self.root).as_posix()
                    if rel.startswith(prefix) and not rel.startswith("tmp/"):
                        found[rel] = (Path(dirpath) / name).stat().st_size
            return found
        found = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        for page in pages:
            for item in page.get("Contents", ()):
                found[item["Key"][len(self.prefix) :]] = item["Size"]
        return found

    def packs(self) -> dict[str, int]:
        return {k: v for k, v in self.keys("packs/").items() if k.endswith(".pack")}

    def log_keys(self) -> list[str]:
        return sorted(self.keys("refs/log/"))

    def read(self, key: str) -> bytes:
        if self.kind == "dir":
            assert self.root is not None
            return (self.root / key).read_bytes()
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)[
            "Body"
        ].read()
        return body

    def overwrite(self, key: str, data: bytes) -> None:
        """Change an object in place behind dvault's back, as damage on the storage or
        someone with raw write *and delete* access could: on S3 the new bytes become the
        only version (a plain overwrite that keeps the old version is :meth:`replace`)."""
        if self.kind == "dir":
            assert self.root is not None
            path = self.root / key
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
            path.write_bytes(data)
            path.chmod(0o444)
            return
        new = self.replace(key, data)
        for version in self.versions(key):
            if version != new:
                self.client.delete_object(
                    Bucket=self.bucket, Key=self.prefix + key, VersionId=version
                )

    def replace(self, key: str, data: bytes) -> str | None:
        """S3 only: a plain PutObject over ``key`` (what a credential allowed PutObject
        without If-None-Match can do); on a versioned bucket the old version stays.
        Returns the new version id."""
        put = self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        version: str | None = put.get("VersionId")
        return version

    def versions(self, key: str) -> list[str]:
        """S3 only: the version ids of ``key``, newest first."""
        listed = self.client.list_object_versions(Bucket=self.bucket, Prefix=self.prefix + key)
        return [v["VersionId"] for v in listed.get("Versions", ()) if v["Key"] == self.prefix + key]

    def read_version(self, key: str, index: int) -> bytes:
        """S3 only: the bytes of one version of ``key`` (``versions`` order: -1 is the first)."""
        body: bytes = self.client.get_object(
            Bucket=self.bucket, Key=self.prefix + key, VersionId=self.versions(key)[index]
        )["Body"].read()
        return body

    def delete(self, key: str) -> None:
        """Remove an object behind dvault's back."""
        if self.kind == "dir":
            assert self.root is not None
            (self.root / key).unlink()
            return
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def stamp(self, key: str) -> tuple[Any, ...]:
        """What changes when an object is written again: inode and mtime, or S3's
        LastModified and version."""
        if self.kind == "dir":
            assert self.root is not None
            st = (self.root / key).stat()
            return (st.st_ino, st.st_mtime_ns)
        head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        return (head["LastModified"], head.get("VersionId"), head["ETag"])

    def head(self, key: str) -> dict[str, Any]:
        """S3 only: the object's metadata (Object Lock mode and date included)."""
        head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        return head


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def new_bucket(client: Any, lock: bool = True) -> str:
    """A fresh bucket (Object Lock enabled by default) with a unique name."""
    name = f"dv-{uuid.uuid4().hex[:16]}"
    if lock:
        client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    else:
        client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def remote_env(tmp_path: Path) -> dict[str, str]:
    """Environment for dvault subprocesses: isolated HOME, fixed author, fake AWS keys."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = base_env(home)
    for key in list(env):
        if key.startswith("AWS_"):
            del env[key]
    env.update(AWS_ENV)
    return env


def s3_target(endpoint: str, env: dict[str, str], lock: bool = True) -> RemoteTarget:
    """``s3://<new bucket>/proj`` on the moto server (bucket made with Object Lock enabled)."""
    client = s3_client(endpoint)
    bucket = new_bucket(client, lock)
    return RemoteTarget(
        "s3",
        f"s3://{bucket}/proj",
        env,
        options=["--endpoint", endpoint],
        bucket=bucket,
        prefix="proj/",
        endpoint=endpoint,
        client=client,
    )


@pytest.fixture(params=["dir", "s3"])
def remote(
    request: pytest.FixtureRequest, tmp_path: Path, remote_env: dict[str, str]
) -> RemoteTarget:
    """A fresh, empty remote: a directory (not yet created), or a new S3 bucket on moto."""
    if request.param == "dir":
        root = tmp_path / "nas" / "proj.remote"
        root.parent.mkdir(exist_ok=True)  # the NAS is mounted; `remote add --init` makes the rest
        return RemoteTarget("dir", str(root), remote_env, root=root)
    return s3_target(request.getfixturevalue("moto_server"), remote_env)


@pytest.fixture
def s3_remote(moto_server: str, remote_env: dict[str, str]) -> RemoteTarget:
    """An S3 remote only (Object Lock tests)."""
    return s3_target(moto_server, remote_env)


def new_project(root: Path, env: dict[str, str]) -> Project:
    """``dvault init`` in a new directory."""
    root.mkdir(parents=True)
    proj = Project(root, env)
    proj.ok("init")
    return proj


def write_ml_v1(proj: Project) -> None:
    """A small ML project: images and a checkpoint dominate, labels are tiny text."""
    for i in range(6):
        proj.write(f"data/images/img{i:02d}.bin", os.urandom(150_000 + 1_000 * i))
    for split in ("train", "val", "test"):
        rows = "".join(f"img{i:02d}.bin,{(i * 7) % 10}\n" for i in range(6))
        proj.write(f"data/labels/{split}.csv", f"file,label,split={split}\n{rows}")
    proj.write("models/checkpoint.bin", os.urandom(1_500_000))  # chunked (> 1 MiB)
    proj.write("README.md", "# vision\n")


def build_ml(root: Path, target: RemoteTarget, *remote_options: str) -> Project:
    """The ML project committed and tagged v1, with ``target`` added as origin (not pushed)."""
    proj = new_project(root, target.env)
    write_ml_v1(proj)
    proj.ok("add", "data", "models", "README.md")
    proj.ok("commit", "-m", "v1 dataset")
    proj.ok("tag", "v1", "-m", "baseline")
    proj.ok(*target.add_args("origin", *remote_options))
    return proj


@pytest.fixture
def ml(tmp_path: Path, remote: RemoteTarget) -> Project:
    """The ML project at v1 with the parametrized remote as origin (not pushed)."""
    return build_ml(tmp_path / "work", remote)


def tree_digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, ``.dvault`` excluded."""
    out = {}
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) == root and d == ".dvault")]
        for name in files:
            path = Path(dirpath) / name
            out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def local_packs(proj_root: Path) -> dict[str, int]:
    """The project's local packs and their sizes."""
    return {p.name: p.stat().st_size for p in (proj_root / ".dvault" / "packs").glob("*.pack")}


def refs_of(proj: Project) -> tuple[dict[str, str], dict[str, str]]:
    """(branch -> id, tag -> commit id) of a project."""
    branches = {b["name"]: b["id"] for b in proj.ok("branch", "--json").json()}
    tags = {t["name"]: t["commit"] for t in proj.ok("tag", "--json").json()}
    return branches, tags


def clone(target: RemoteTarget, dest: Path, *extra: str, paths: list[str] | None = None) -> Project:
    """``dvault clone`` (required to succeed); returns the new project."""
    runner = Project(dest.parent, target.env)
    runner.ok(*target.clone_args(dest, *extra, paths=paths), cwd=dest.parent)
    return Project(dest, target.env)


def commit_file(proj: Project, rel: str, content: bytes | str, message: str) -> str:
    """Write one file, add it and commit; returns the new commit id."""
    proj.write(rel, content)
    proj.ok("add", rel)
    proj.ok("commit", "-m", message)
    return proj.head()
