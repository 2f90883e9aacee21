"""Merge commits over a remote (directory and S3): push sends both sides, a fresh clone
restores every commit of both sides byte for byte, and fetch brings a merge into another
clone."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.helpers import Project

from .conftest import RemoteTarget, clone, commit_file, tree_digests


def _diverge_and_merge(ml: Project) -> dict[str, str]:
    """main and ``side`` each change one directory, then main merges side with --no-ff."""
    ids = {"v1": ml.head()}
    ml.ok("branch", "side")
    ids["m1"] = commit_file(ml, "data/images/img90.bin", os.urandom(90_000), "main image")
    ml.ok("checkout", "side")
    ids["s1"] = commit_file(ml, "models/extra.bin", os.urandom(1_200_000), "side model")
    ml.ok("checkout", "main")
    ml.ok("merge", "--no-ff", "side", "-m", "join side")
    ids["merge"] = ml.head()
    return ids


def test_push_merge_then_clone_restores_every_commit(
    ml: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """Pushing only main carries the merged side (reachable through the second parent):
    a clone has the merge, logs both sides once, verifies clean, and every commit of
    both sides checks out byte for byte as in the original."""
    ids = _diverge_and_merge(ml)
    digests = {}
    for name, oid in ids.items():
        ml.ok("checkout", oid)
        digests[name] = tree_digests(ml.root)
    ml.ok("checkout", "main")
    ml.ok("push", "origin", "main")
    ml.ok("verify", "--remote", "origin", "--read-data")
    copy = clone(remote, tmp_path / "copy")
    assert copy.head() == ids["merge"]
    assert copy.log("-n", "1")[0]["parents"] == [ids["m1"], ids["s1"]]
    assert {c["id"] for c in copy.log()} == set(ids.values())
    copy.ok("verify", "--all", "--read-data")
    for name, oid in ids.items():
        copy.ok("checkout", oid)
        got = {k: v for k, v in tree_digests(copy.root).items() if k in digests[name]}
        assert got == digests[name], name


def test_fetch_and_pull_bring_a_merge_into_another_clone(
    ml: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """A clone made before the merge fetches it (objects of both sides), and pull
    fast-forwards to it with both sides' files in place."""
    ml.ok("push", "origin", "main")
    other = clone(remote, tmp_path / "other")
    ids = _diverge_and_merge(ml)
    ml.ok("push", "origin", "main")
    other.ok("fetch", "origin")
    assert other.log("origin/main", "-n", "1")[0]["parents"] == [ids["m1"], ids["s1"]]
    other.ok("verify", "origin/main", "--read-data")
    other.ok("pull")
    assert other.head() == ids["merge"]
    for rel in ("data/images/img90.bin", "models/extra.bin"):
        assert (other.root / rel).read_bytes() == (ml.root / rel).read_bytes()
    assert other.status()["clean"]
