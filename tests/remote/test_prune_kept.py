"""Prune deletes by the kept set (dvault/remote/kept.py): a tag keeps its commit's
contents, until a forget names it with ``--release-tag`` (directory remote and moto S3)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.helpers import Project
from tests.remote.conftest import RemoteTarget, build_ml, commit_file
from tests.remote.prune_helpers import holds, read_back, trust_own_key

ADMIN = {
    "DVAULT_ADMIN_AWS_ACCESS_KEY_ID": "admin",
    "DVAULT_ADMIN_AWS_SECRET_ACCESS_KEY": "admin",
}


def _tagged_history(tmp_path: Path, target: RemoteTarget) -> tuple[Project, str, str, bytes]:
    """v1 (tagged ``v1``, annotated) and v2 (v1's checkpoint dropped), pushed with the
    tag; returns (project, v1, v2, the dropped checkpoint's bytes)."""
    proj = build_ml(tmp_path / "work", target)
    trust_own_key(proj)
    proj.ok("push", "origin", "main")  # the tag v1 follows
    v1 = proj.head()
    dropped = (proj.root / "models" / "checkpoint.bin").read_bytes()
    proj.ok("rm", "models/checkpoint.bin")
    v2 = commit_file(proj, "models/small.bin", os.urandom(50_000), "v2: smaller model")
    proj.ok("push", "origin", "main")
    proj.env.update(ADMIN)
    return proj, v1, v2, dropped


def _remote_holds(target: RemoteTarget, content: bytes) -> bool:
    return any(holds(target.read(key), content) for key in target.packs())


def test_a_tag_keeps_its_commit_until_a_forget_releases_it(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    proj, v1, v2, dropped = _tagged_history(tmp_path, remote)
    admin = ["--admin"] if remote.kind == "dir" else []
    # the policy releases v1, but the tag v1 keeps its contents: nothing of it is freed
    proj.ok("forget", "origin", "--keep-last", "1")
    kept = proj.ok("prune", "origin", "--grace", "0", "--json", *admin).json()
    assert not kept["deleted"] and not kept["packs_dead"] and not kept["packs_repacked"]
    assert _remote_holds(remote, dropped)
    assert read_back(proj, v1) > 5
    # a forget naming the tag: v1's contents are no longer kept, prune frees them
    proj.ok("forget", "origin", "--keep-last", "1", "--release-tag", "v1")
    done = proj.ok("prune", "origin", "--grace", "0", "--json", *admin).json()
    assert done["deleted"] and done["bytes_freed"] > len(dropped) // 2
    assert not _remote_holds(remote, dropped)
    assert read_back(proj, v2) > 5  # the kept commit reads back whole
