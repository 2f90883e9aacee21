"""Least privilege: read-only credentials can clone, fetch, verify and review, and cannot
change or destroy anything; a push with them fails in one line and leaves the remote as
it was. (Pushing with credentials that cannot delete: test_s3_object_lock.py.)

S3 permissions are a bucket policy enforced by the moto server; a directory remote is made
read-only with file permissions (when the suite runs as root, the dvault commands run
without the capabilities that let root ignore permissions).
"""

from __future__ import annotations

import ctypes
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.cli.helpers import Project, Result, dvault_command, one_error_line

from .conftest import RemoteTarget, commit_file, tree_digests

READ_ONLY_DENIED = [
    "s3:PutObject",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutBucketPolicy",
    "s3:DeleteBucket",
    "s3:PutLifecycleConfiguration",
]
"""Everything that could add, change or remove data: a reader credential's complement."""


def git(root: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, env=env, capture_output=True)


def git_project(root: Path, env: dict[str, str], target: RemoteTarget) -> Project:
    """A git repository with pinned data (dvault.lock committed) and ``target`` as origin,
    pushed with full credentials."""
    env = {
        **env,
        "GIT_AUTHOR_NAME": "T",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "T",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    root.mkdir(parents=True)
    git(root, env, "init", "-q", "-b", "main")
    proj = Project(root, env)
    proj.write("train.py", "print('train')\n")
    proj.ok("init")
    proj.write("data/images/a.bin", os.urandom(200_000))
    proj.write("data/labels.csv", "file,label\na.bin,3\n")
    proj.ok("add", "data")
    proj.ok("commit", "-m", "v1")
    proj.ok("tag", "v1")
    proj.ok(*target.add_args("origin"))
    proj.ok("push", "origin", "main", "v1")
    git(root, env, "add", "-A")
    git(root, env, "commit", "-qm", "code + data pin")
    return proj


def deny_writes(target: RemoteTarget) -> None:
    arn = f"arn:aws:s3:::{target.bucket}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": READ_ONLY_DENIED,
                "Resource": [arn, f"{arn}/*"],
            }
        ],
    }
    target.client.put_bucket_policy(Bucket=target.bucket, Policy=json.dumps(policy))
    with pytest.raises(ClientError):  # enforced by the server, for every credential
        target.client.put_object(Bucket=target.bucket, Key="probe", Body=b"x")


def remote_state(target: RemoteTarget) -> dict[str, tuple[object, ...]]:
    """Every key with its size, ETag and version: any write or delete changes this."""
    listing = target.keys()
    return {key: target.stamp(key) for key in listing}


def test_read_only_s3_credentials_clone_fetch_verify_review_but_cannot_push(
    s3_remote: RemoteTarget, tmp_path: Path
) -> None:
    proj = git_project(tmp_path / "work", s3_remote.env, s3_remote)
    deny_writes(s3_remote)
    before = remote_state(s3_remote)

    # review: the pinned data is on the remote and intact, read with read-only access
    report = proj.ok("review", "--read-data")
    assert "| **PASS** | Data recoverable from a remote |" in report.out
    # clone, fetch and verify
    runner = Project(tmp_path, s3_remote.env)
    runner.ok(*s3_remote.clone_args(tmp_path / "copy"), cwd=tmp_path)
    copy = Project(tmp_path / "copy", s3_remote.env)
    assert tree_digests(copy.root / "data") == tree_digests(proj.root / "data")
    copy.ok("fetch")
    copy.ok("verify", "--remote", "origin", "--read-data")
    copy.ok("checkout", "v1")
    copy.ok("checkout", "main")

    # push: refused by the store, one line, nothing changed on the remote
    commit_file(copy, "data/labels.csv", "file,label\na.bin,4\n", "relabel")
    result = copy.run("push")
    assert result.code == 3, result.describe()
    line = one_error_line(result)
    assert "denied" in line.lower() or "forbidden" in line.lower(), line
    assert remote_state(s3_remote) == before
    copy.ok("verify", "--remote", "origin", "--read-data")  # history intact and readable


# -- directory remote, read-only by file permissions -------------------------------------


def _without_root_overrides() -> None:
    """As root, drop the capabilities that bypass file permissions (CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH, CAP_FOWNER) from the child, so chmod a-w binds it like any user."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _run_unprivileged(env: dict[str, str], cwd: Path, *args: str) -> Result:
    done = subprocess.run(
        [*dvault_command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=120,
        preexec_fn=_without_root_overrides,
    )
    return Result(list(args), done.returncode, done.stdout, done.stderr.decode(errors="replace"))


def _snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            st = path.stat()
            out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns, path.read_bytes())
    return out


def test_read_only_directory_remote_clone_fetch_verify_work_and_push_fails(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    remote = tmp_path / "nas" / "proj.remote"
    remote.parent.mkdir()  # the NAS is mounted
    target = RemoteTarget("dir", str(remote), remote_env, root=remote)
    proj = git_project(tmp_path / "work", remote_env, target)
    for dirpath, dirs, files in os.walk(remote):  # chmod -R a-w
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirs + files)]:
            os.chmod(name, stat.S_IMODE(os.lstat(name).st_mode) & ~0o222)
    before = _snapshot(remote)

    env = remote_env
    copy = tmp_path / "copy"
    result = _run_unprivileged(env, tmp_path, "clone", str(remote), str(copy))
    assert result.code == 0, result.describe()
    assert tree_digests(copy / "data") == tree_digests(proj.root / "data")
    for args in (["fetch"], ["verify", "--remote", "origin", "--read-data"]):
        result = _run_unprivileged(env, copy, *args)
        assert result.code == 0, result.describe()

    (copy / "data" / "labels.csv").write_text("file,label\na.bin,4\n")
    assert _run_unprivileged(env, copy, "commit", "-a", "-m", "relabel").code == 0
    result = _run_unprivileged(env, copy, "push")
    assert result.code == 3, result.describe()
    line = one_error_line(result)
    assert "permission denied" in line.lower() or "read-only" in line.lower(), line
    assert _snapshot(remote) == before
    for dirpath, _dirs, _files in os.walk(remote):  # let pytest clean up
        os.chmod(dirpath, 0o755)
