"""S3 only: Object Lock retention on everything dvault writes, and buckets that forbid
deletes (dvault never needs to delete)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.cli.helpers import Project

from .conftest import RemoteTarget, build_ml, clone, commit_file, tree_digests


def _versions(target: RemoteTarget) -> tuple[dict[str, int], int]:
    """(key -> number of versions, number of delete markers) in the bucket."""
    counts: dict[str, int] = {}
    markers = 0
    pages = target.client.get_paginator("list_object_versions").paginate(Bucket=target.bucket)
    for page in pages:
        for version in page.get("Versions", ()):
            counts[version["Key"]] = counts.get(version["Key"], 0) + 1
        markers += len(page.get("DeleteMarkers", ()))
    return counts, markers


def test_retention_locks_every_object_written(s3_remote: RemoteTarget, tmp_path: Path) -> None:
    """With --retention 7 every pack, ref-log entry and the marker is locked ~7 days."""
    proj = build_ml(tmp_path / "work", s3_remote, "--retention", "7")
    assert "retention 7 days" in proj.ok("remote", "list").out
    start = datetime.datetime.now(datetime.UTC)
    proj.ok("push", "origin", "main", "v1")
    end = datetime.datetime.now(datetime.UTC)

    keys = s3_remote.keys()
    assert "dvault-remote.json" in keys
    assert s3_remote.packs()
    assert len(s3_remote.log_keys()) == 1  # main and v1 move in one entry
    for key in keys:
        head = s3_remote.head(key)
        assert head.get("ObjectLockMode") == "COMPLIANCE", key
        until = head["ObjectLockRetainUntilDate"]
        assert start + datetime.timedelta(days=7, seconds=-5) <= until, key
        assert until <= end + datetime.timedelta(days=7, seconds=5), key

    pack = next(iter(s3_remote.packs()))
    version = s3_remote.head(pack)["VersionId"]
    with pytest.raises(ClientError):  # even raw credentials cannot remove a locked version
        s3_remote.client.delete_object(
            Bucket=s3_remote.bucket, Key=s3_remote.prefix + pack, VersionId=version
        )
    assert _versions(s3_remote) == ({s3_remote.prefix + k: 1 for k in keys}, 0)


def test_push_works_on_a_bucket_that_denies_deletes(
    s3_remote: RemoteTarget, tmp_path: Path
) -> None:
    """A bucket policy denying every delete does not hinder push, clone, fetch or verify."""
    arn = f"arn:aws:s3:::{s3_remote.bucket}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket"],
                "Resource": [arn, f"{arn}/*"],
            }
        ],
    }
    s3_remote.client.put_bucket_policy(Bucket=s3_remote.bucket, Policy=json.dumps(policy))
    s3_remote.client.put_object(Bucket=s3_remote.bucket, Key="probe", Body=b"x")
    with pytest.raises(ClientError):  # the policy is enforced by the server
        s3_remote.client.delete_object(Bucket=s3_remote.bucket, Key="probe")

    proj = build_ml(tmp_path / "work", s3_remote)
    proj.ok("push", "origin", "main", "v1")
    copy = clone(s3_remote, tmp_path / "copy")
    assert tree_digests(copy.root) == tree_digests(proj.root)
    commit_file(copy, "data/labels/val.csv", "file,label\nimg01.bin,4\n", "relabel val")
    copy.ok("push")
    proj.ok("pull")
    assert tree_digests(proj.root) == tree_digests(copy.root)
    proj.ok("verify", "--remote", "origin", "--read-data")
    versions, markers = _versions(s3_remote)
    assert markers == 0
    assert all(count == 1 for count in versions.values())  # nothing overwritten either


def test_remote_list_shows_endpoint(s3_remote: RemoteTarget, tmp_path: Path) -> None:
    """remote list --json records the endpoint and retention, never credentials."""
    proj = Project(tmp_path / "p", s3_remote.env)
    proj.root.mkdir()
    proj.ok("init")
    proj.ok(*s3_remote.add_args("backup", "--retention", "30"))
    listed = proj.ok("remote", "list", "--json").json()
    assert listed == [
        {
            "name": "backup",
            "url": s3_remote.url,
            "endpoint": s3_remote.endpoint,
            "retention_days": 30,
        }
    ]
    config = (proj.root / ".dvault" / "config").read_text()
    assert "testing" not in config


def test_review_names_the_lock_mode_and_retain_until(
    s3_remote: RemoteTarget, tmp_path: Path
) -> None:
    """The review's data_recoverable check says how the remote protects the data: the
    bucket's lock, and each pack's Object Lock as S3 reports it, with the earliest
    retain-until date (here: about 7 days after the push)."""
    from tests.cli.helpers import git, git_project

    proj = git_project(tmp_path / "work", s3_remote.env)
    proj.write("data/a.bin", b"x" * 1000)
    proj.ok("add", "data")
    proj.ok("commit", "-m", "v1")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "pin")
    proj.ok(*s3_remote.add_args("origin", "--retention", "7"))
    start = datetime.datetime.now(datetime.UTC)
    proj.ok("push")
    doc = proj.ok("review", "--json").json()
    (remote,) = doc["remotes"]
    assert remote["status"] == "complete"
    assert remote["packs"] >= 1 and remote["locked_packs"] == remote["packs"]
    assert remote["lock_mode"] == "COMPLIANCE"
    assert "every write locked COMPLIANCE for 7 days" in remote["lock"]
    until = datetime.datetime.strptime(remote["retain_until"], "%Y-%m-%dT%H:%M:%SZ")
    until = until.replace(tzinfo=datetime.UTC)
    assert start + datetime.timedelta(days=7, seconds=-5) <= until
    assert until <= start + datetime.timedelta(days=7, minutes=5)
    (check,) = [c for c in doc["checks"] if c["name"] == "data_recoverable"]
    assert check["status"] == "pass"
    assert f"Object Lock COMPLIANCE on all {remote['packs']} pack(s)" in check["reason"]
    assert f"retain-until {remote['retain_until']} at the earliest" in check["reason"]
