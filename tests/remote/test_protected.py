"""Protected branches on a remote: they only fast-forward, even with push --force, and a
ref-log entry forged by someone holding write credentials is detected."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from blake3 import blake3

from dvault.remote.reflog import LogEntry, RefUpdate, entry_key
from tests.cli.helpers import Project, one_error_line

from .conftest import RemoteTarget, build_ml, clone, commit_file


def _put(remote: RemoteTarget, key: str, data: bytes) -> None:
    """Create an object on the remote behind dvault's back (raw write credentials)."""
    if remote.kind == "dir":
        assert remote.root is not None
        (remote.root / key).parent.mkdir(parents=True, exist_ok=True)
        (remote.root / key).write_bytes(data)
    else:
        remote.client.put_object(Bucket=remote.bucket, Key=remote.prefix + key, Body=data)


def _append_forged(remote: RemoteTarget, ref: str, old: str, new: str, force: bool) -> None:
    """A hand-written next ref-log entry, correctly chained: only the rules can catch it."""
    keys = remote.log_keys()
    last = remote.read(keys[-1])
    seq = json.loads(last)["seq"] + 1
    entry = LogEntry(
        seq, blake3(last).hexdigest(), (RefUpdate(ref, old, new, force),), time.time_ns(), "x", "y"
    )
    _put(remote, entry_key(seq), entry.encode())


def test_protected_branch_only_fast_forwards(tmp_path: Path, remote: RemoteTarget) -> None:
    """push --force of a diverged protected branch is refused with one line and appends
    nothing; a fast-forward with --force is logged as an ordinary (non-force) update."""
    ml = build_ml(tmp_path / "work", remote, "--protect", "main")
    assert json.loads(remote.read("dvault-remote.json"))["protect"] == ["main"]
    ml.ok("push", "origin", "main", "v1")
    alice = clone(remote, tmp_path / "alice")
    a2 = commit_file(alice, "data/labels/train.csv", "file,label\nimg00.bin,1\n", "alice")
    alice.ok("push")
    commit_file(ml, "data/labels/train.csv", "file,label\nimg00.bin,2\n", "diverged")
    ml.ok("fetch")
    before = remote.log_keys()
    result = ml.run("push", "--force")
    assert result.code == 1, result.describe()
    line = one_error_line(result)
    assert "refs/heads/main" in line and "protected" in line and "even with --force" in line
    assert remote.log_keys() == before

    a3 = commit_file(alice, "data/labels/val.csv", "file,label\nimg01.bin,3\n", "alice 2")
    alice.ok("push", "--force")  # a fast-forward: allowed, and not recorded as forced
    last = json.loads(remote.read(remote.log_keys()[-1]))
    assert last["updates"] == [{"force": False, "new": a3, "old": a2, "ref": "refs/heads/main"}]
    ml.ok("verify", "--remote", "origin")


def test_forged_force_entry_on_protected_branch_is_detected(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    """An entry appended by hand that force-moves a protected branch (chain intact) is
    refused by fetch, verify --remote and a fresh clone."""
    ml = build_ml(tmp_path / "work", remote, "--protect", "main")
    ml.ok("push", "origin", "main", "v1")
    first = ml.head()
    second = commit_file(ml, "data/labels/train.csv", "file,label\nimg00.bin,1\n", "v2")
    ml.ok("push")
    copy = clone(remote, tmp_path / "copy")
    _append_forged(remote, "refs/heads/main", second, first, force=True)

    result = copy.run("fetch")
    assert result.code == 3, result.describe()
    line = one_error_line(result)
    assert "protected branch refs/heads/main" in line and "forged" in line
    assert copy.log("origin/main", "-n", "1")[0]["id"] == second  # not followed
    result = ml.run("verify", "--remote", "origin")
    assert result.code == 1, result.describe()
    assert "forged" in result.err and "Traceback" not in result.err
    fresh = Project(tmp_path, remote.env).run(*remote.clone_args(tmp_path / "fresh"))
    assert fresh.code == 3 and "forged" in one_error_line(fresh)


DIR_ONLY = pytest.mark.parametrize("remote", ["dir"], indirect=True)
"""For rules that do not depend on the backend (the S3 path is covered above)."""


@DIR_ONLY
def test_forged_rewind_without_force_is_found_by_fetch_and_verify(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    """An entry that rewinds a branch but claims to be an ordinary update cannot be told
    apart by replay; fetch, clone and verify --remote check it against the commit graph,
    and a refused fetch moves nothing and reports it again next time."""
    ml = build_ml(tmp_path / "work", remote)
    ml.ok("push", "origin", "main", "v1")
    first = ml.head()
    second = commit_file(ml, "data/labels/train.csv", "file,label\nimg00.bin,1\n", "v2")
    ml.ok("push")
    ml.ok("verify", "--remote", "origin")
    _append_forged(remote, "refs/heads/main", second, first, force=False)
    result = ml.run("verify", "--remote", "origin")
    assert result.code == 1, result.describe()
    assert "not a fast-forward: a forged ref-log entry" in result.err
    assert first[:12] in result.err and second[:12] in result.err
    tracking = (ml.root / ".dvault" / "refs" / "remotes" / "origin" / "main").read_text()
    for _ in range(2):
        result = ml.run("fetch")
        assert result.code == 3, result.describe()
        assert "forged ref-log entry" in one_error_line(result)
    assert (ml.root / ".dvault" / "refs" / "remotes" / "origin" / "main").read_text() == tracking
    result = Project(tmp_path, remote.env).run(*remote.clone_args(tmp_path / "copy"))
    assert result.code == 3, result.describe()
    assert "forged ref-log entry" in one_error_line(result)


@DIR_ONLY
def test_protections_are_fixed_when_the_remote_is_created(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    """Another client cannot re-declare protections; a marker rewritten to drop them is
    noticed by every clone that saw them."""
    ml = build_ml(tmp_path / "work", remote, "--protect", "main", "--protect", "release/*")
    ml.ok("push")
    other = Project(tmp_path / "work", remote.env)
    result = other.run(*remote.add_args("second", "--protect", "main"))
    assert result.code == 2, result.describe()
    assert "fixed when a remote is created" in one_error_line(result)
    other.ok(*remote.add_args("third", "--protect", "release/*", "--protect", "main"))
    other.ok(*remote.add_args("fourth"))  # no --protect: nothing asked, nothing checked

    remote.overwrite("dvault-remote.json", b'{"format":1,"kind":"dvault-remote"}\n')
    result = ml.run("fetch")
    assert result.code == 3, result.describe()
    assert "no longer protects main, release/*" in one_error_line(result)
