"""A push racing a prune: a push that started after a plan never relies on a pack the
plan names, so a phase 2 deleting it at the worst moment, even with the push killed
right after its append, loses nothing the new commit needs (directory remote: the
forced interleavings delete with the directory admin deleter)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dvault.hashing import ObjectId
from dvault.remote.admin import DirectoryDeleter
from dvault.remote.directory import DirectoryBackend
from dvault.remote.push import push_refs
from dvault.remote.session import Remote, pick_remote
from dvault.repo import Repo
from tests.cli.helpers import Project
from tests.reliability.faults import FaultyBackend
from tests.remote.conftest import RemoteTarget, build_ml, commit_file
from tests.remote.prune_helpers import forget, in_env, read_back, trust_own_key

ADMIN = {
    "DVAULT_ADMIN_AWS_ACCESS_KEY_ID": "admin",
    "DVAULT_ADMIN_AWS_SECRET_ACCESS_KEY": "admin",
}
DIR_ONLY = pytest.mark.parametrize("remote", ["dir"], indirect=True)
"""The forced interleavings delete with the directory admin deleter."""
REPO_ROOT = Path(__file__).resolve().parents[2]


def _planned_with_dropped_bytes_back(
    tmp_path: Path, target: RemoteTarget
) -> tuple[Project, list[str], str]:
    """v1 and v2 pushed (v2 drops v1's model), v1 released by a trusted forget, a plan
    appended (phase 1 only), then v3 committed locally with v1's model bytes again;
    returns (project, the planned packs, v3)."""
    proj = build_ml(tmp_path / "work", target)
    trust_own_key(proj)
    proj.ok("push", "origin", "main", "--no-tags")
    v1 = proj.head()
    dropped = (proj.root / "models" / "checkpoint.bin").read_bytes()
    proj.ok("rm", "models/checkpoint.bin")
    commit_file(proj, "models/small.bin", os.urandom(50_000), "v2: smaller model")
    proj.ok("push", "origin", "main", "--no-tags")
    proj.env.update(ADMIN)
    forget(proj, [v1])
    planned = proj.ok("prune", "origin", "--admin", "--json").json()
    names = [*planned["packs_dead"], *planned["packs_repacked"]]
    assert names and not planned["deleted"]
    v3 = commit_file(proj, "models/checkpoint.bin", dropped, "v3: the old model is back")
    return proj, names, v3


@DIR_ONLY
def test_a_push_after_a_plan_never_relies_on_a_planned_pack(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    """The push re-adds bytes only a planned pack holds; phase 2 deletes the planned packs
    just before the push's entry lands (forced: the delete runs when the push appends).
    The push sent a copy of another name before its append: everything v3 needs reads
    back, and no planned name was uploaded again."""
    proj, names, v3 = _planned_with_dropped_bytes_back(tmp_path, remote)
    assert remote.root is not None
    deleter = DirectoryDeleter(remote.root)

    class PruneRacesAppend(FaultyBackend):
        def create(self, key: str, data: bytes) -> None:
            if key.startswith("refs/log/"):
                for name in names:  # phase 2 wins the race: the planned packs go
                    deleter.delete(f"packs/{name}.pack")
            super().create(key, data)

    with in_env(proj.env), Repo.open(proj.root) as repo:
        spec = pick_remote(repo, "origin")
        backend = PruneRacesAppend(DirectoryBackend(remote.root))
        push_refs(repo, spec, {"refs/heads/main": ObjectId(bytes.fromhex(v3))}, backend=backend)
    assert read_back(proj, v3) > 5
    assert not {f"packs/{n}.pack" for n in names} & set(remote.packs())


@DIR_ONLY
def test_a_push_killed_right_after_its_append_loses_nothing(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    """The same interleaving, and the push is SIGKILLed the moment its entry is created
    (a real kill, in a child process): the entry landed, and every object of v3 reads
    back and verifies without any later push. (Before the fix, the push confirmed the
    planned copy and re-uploaded it only after its append: this kill lost v3's model.)"""
    proj, names, v3 = _planned_with_dropped_bytes_back(tmp_path, remote)
    assert remote.root is not None
    env = {**os.environ, **proj.env, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.run(
        [sys.executable, "-m", "tests.remote.race_push", str(remote.root), v3, *names],
        cwd=proj.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr  # SIGKILL, right after the append
    with in_env(proj.env), Repo.open(proj.root) as repo:
        view = Remote(repo, pick_remote(repo, "origin")).log.load(full=True)
    assert view.state.refs["refs/heads/main"] == v3  # the entry landed whole
    assert read_back(proj, v3) > 5
