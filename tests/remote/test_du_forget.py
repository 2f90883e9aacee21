"""``dvault remote du --policy`` and ``dvault forget --dry-run`` decide with one function
(remote/forgetplan.py): on a real remote (a directory and moto's S3) with several
branches, several tags and a protected branch, du's "would release" list
is forget's released list for several policies; after forgetting for real and pruning with
no grace, the bytes the storage lost are exactly du's earlier ``storage_frees``. du also
shows what awaits prune: released commits, erased objects, open plans."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dvault.hashing import ObjectType, object_id
from dvault.reachability import walk
from dvault.remote.session import Remote, pick_remote
from dvault.remote.usageplan import Sizes
from dvault.repo import Repo
from tests.cli.helpers import Project

from .conftest import RemoteTarget, build_ml, commit_file
from .prune_helpers import in_env, redact, trust_own_key

ADMIN = {
    "DVAULT_ADMIN_AWS_ACCESS_KEY_ID": "admin",
    "DVAULT_ADMIN_AWS_SECRET_ACCESS_KEY": "admin",
}
POLICIES = (
    "--keep-last 1",
    "--keep-last 2 --keep-tags",
    "--keep-daily 1",
    "--keep-within 1h",
    "--keep-last 3",
)


def _admin_args(target: RemoteTarget) -> list[str]:
    return ["--admin"] if target.kind == "dir" else []


def _branches(tmp_path: Path, remote: RemoteTarget) -> Project:
    """main (v1, then four checkpoints; two tags on the
    way), exp (two commits of its own on main's second), release (protected, one commit
    of its own on main's third), all pushed with their tags."""
    proj = build_ml(tmp_path / "work", remote, "--protect", "release")
    trust_own_key(proj)
    ckpt = "models/checkpoint.bin"
    commit_file(proj, ckpt, os.urandom(120_000), "ckpt 0")
    proj.ok("branch", "exp")
    commit_file(proj, ckpt, os.urandom(120_001), "ckpt 1")
    proj.ok("tag", "mid", "-m", "halfway")
    proj.ok("branch", "release")
    commit_file(proj, ckpt, os.urandom(120_002), "ckpt 2")
    proj.ok("tag", "light")
    commit_file(proj, ckpt, os.urandom(120_003), "ckpt 3")
    proj.ok("checkout", "exp")
    commit_file(proj, "data/exp.bin", os.urandom(90_000), "exp a")
    commit_file(proj, "data/exp.bin", os.urandom(90_001), "exp b")
    proj.ok("checkout", "release")
    commit_file(proj, "data/rel.bin", os.urandom(80_000), "release fix")
    proj.ok("checkout", "main")
    proj.ok("push", "origin", "main", "exp", "release", "v1", "mid", "light")
    return proj


def _du(proj: Project, *extra: str) -> dict[str, Any]:
    report: dict[str, Any] = proj.ok("remote", "du", "origin", "--json", *extra).json()
    return report


def test_du_releases_exactly_what_forget_would_and_prune_frees_its_figure(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    proj = _branches(tmp_path, remote)
    released_any = False
    for policy in POLICIES:
        would = _du(proj, "--policy", policy)["policy"]
        dry = proj.ok("forget", "origin", *policy.split(), "--dry-run", "--json").json()
        assert would["commits"] == dry["released"], policy
        assert would["released"] == len(dry["released"]), policy
        released_any |= bool(dry["released"])
        # never a tip, a tag's commit, or a commit only the protected branch holds
        kept = {r["id"] for r in dry["commits"] if r["action"] == "keep"}
        assert not kept & set(would["commits"])
    assert released_any
    assert _du(proj, "--policy", "--keep-within 1h")["policy"]["commits"] == []

    before = _du(proj, "--policy", "--keep-last 1")
    frees = before["policy"]["storage_frees"]
    # exp a's file (main's old checkpoints are in the protected branch's history)
    assert frees > 80_000 and before["released"] is None
    packs = sum(remote.packs().values())
    done = proj.ok("forget", "origin", "--keep-last", "1", "--json").json()
    assert done["released"] == before["policy"]["commits"]
    after_forget = _du(proj)
    assert after_forget["released"]["commits"] == done["released"]
    assert after_forget["released"]["storage_frees"] == frees
    assert "released by forget, awaiting prune:" in proj.ok("remote", "du", "origin").out

    proj.env.update(ADMIN)
    pruned = proj.ok("prune", "origin", "--grace", "0", "--json", *_admin_args(remote)).json()
    assert pruned["deleted"]
    assert packs - sum(remote.packs().values()) == frees
    # nothing more to free: what stays is what the kept commits need
    assert _du(proj)["released"]["storage_frees"] == 0


def test_du_shows_open_plans_and_erased_objects_awaiting_prune(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    store = tmp_path / "nas"
    remote = RemoteTarget("dir", str(store), remote_env, root=store)
    proj = build_ml(tmp_path / "work", remote)
    trust_own_key(proj)
    secret = os.urandom(70_000)
    commit_file(proj, "data/secret.bin", secret, "oops")
    proj.ok("push", "origin", "main")
    assert _du(proj)["erased"] is None and _du(proj)["plans"] == []
    oops = proj.head()
    redact(proj, oops, [object_id(ObjectType.BLOB, secret).hex()])
    report = _du(proj)
    assert report["erased"] == {"redactions": 1, "objects": 1, "stored": 1, "bytes": 70_000}
    text = proj.ok("remote", "du", "origin").out
    assert "erased by 1 redaction(s), awaiting prune: 1 of 1 objects still stored" in text

    # phase 1 only (a grace of an hour): the plan is open, due an hour after it
    plan = proj.ok("prune", "origin", "--admin", "--json").json()
    assert plan["planned_seq"] is not None
    report = _du(proj)
    [open_plan] = report["plans"]
    assert open_plan["seq"] == plan["planned_seq"] and open_plan["trusted"]
    assert open_plan["packs"] >= 1 and open_plan["bytes"] > 70_000
    assert open_plan["due_ns"] - open_plan["time_ns"] == 3600 * 10**9
    assert f"prune plan {plan['planned_seq']} (planned" in proj.ok("remote", "du", "origin").out
    proj.ok("prune", "origin", "--admin", "--grace", "0")
    report = _du(proj)
    assert report["plans"] == [] and report["erased"]["stored"] == 0


@pytest.mark.parametrize("policy", ["--keep-last 1", "--keep-tags --keep-daily 1"])
def test_du_policy_with_only_protected_branches_is_one_problem_line(
    policy: str, tmp_path: Path, remote_env: dict[str, str]
) -> None:
    store = tmp_path / "nas"
    remote = RemoteTarget("dir", str(store), remote_env, root=store)
    proj = build_ml(tmp_path / "work", remote, "--protect", "main")
    proj.ok("push", "origin", "main")
    result = proj.ok("remote", "du", "origin", "--policy", policy, "--json")
    report = result.json()
    assert report["policy"] is None
    assert any("no branch that is not protected" in p for p in report["problems"])


def test_the_shared_walk_attributes_as_one_walk_per_ref_would(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    """du walks once for every ref; each ref walked on its own (reachability.walk, the
    whole history) must give the same reach, own bytes and commit count."""
    store = tmp_path / "nas"
    remote = RemoteTarget("dir", str(store), remote_env, root=store)
    proj = _branches(tmp_path, remote)
    # the same bytes on two branches that share no commit holding them: one blob, reached
    # by refs whose masks do not nest (a walk must not stop at an object marked otherwise)
    newest = (proj.root / "models" / "checkpoint.bin").read_bytes()  # main's tip only
    proj.ok("checkout", "release")
    commit_file(proj, "data/copy.bin", newest, "the same bytes as main's newest checkpoint")
    proj.ok("push", "origin", "release")
    proj.ok("checkout", "main")
    report = _du(proj)
    with in_env(proj.env):
        repo = Repo.open(proj.root)
        handle = Remote(repo, pick_remote(repo, "origin"))
        handle.refresh_catalog()
        view = handle.log.load(full=True)
        sizes = Sizes(handle)
        walks = {
            ref: walk(handle.read_object, handle.catalog.type_of, [bytes.fromhex(h)], paths=False)
            for ref, h in view.refs.items()
        }
    owners: dict[bytes, set[str]] = {}
    for ref, found in walks.items():
        for oid in found.objects:
            owners.setdefault(oid, set()).add(ref)
    expected: dict[str, dict[str, Any]] = {
        ref: {
            "ref": ref,
            "reach": sum(sizes.of(o) for o in found.objects),
            "own": sum(sizes.of(o) for o in found.objects if owners[o] == {ref}),
            "commits": len(found.commits),
        }
        for ref, found in walks.items()
    }
    assert len(expected) == 6  # three branches, three tags
    assert expected["refs/heads/main"]["own"] < 1000  # its checkpoint is shared now
    assert {r["ref"]: r for r in report["refs"]} == expected
    assert report["live"] == sum(sizes.of(o) for o in owners)
    assert report["shared"] == sum(sizes.of(o) for o, refs in owners.items() if len(refs) > 1)
