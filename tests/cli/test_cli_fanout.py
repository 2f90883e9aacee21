"""A directory larger than the shard threshold, end to end: add, commit, status, diff,
checkout, verify and a directory remote all see every file, and the stage's tree
(updated incrementally by each add) is the one a full build of the stage gives."""

from __future__ import annotations

import shutil
from pathlib import Path

from dvault.repo import Repo
from dvault.treeobjects import Tree, TreeFanout
from dvault.trees import SHARD_ENTRIES, build_from_stage, lookup, read_node

from .helpers import Project

N = SHARD_ENTRIES + 76


def stage_tree_is_canonical(root: Path) -> bool:
    with Repo.open(root) as repo:
        return bool(repo.state.stage_tree() == build_from_stage(repo.state.stage())[0])


def test_a_sharded_directory_round_trips(project: Project, tmp_path: Path) -> None:
    big = project.root / "data" / "big"
    big.mkdir(parents=True)
    for i in range(N):
        (big / f"img{i:05d}.txt").write_text(f"image {i}\n")
    project.write("data/labels.csv", "a,b\n")
    project.ok("add", "data")
    first = project.commit("v1")
    with Repo.open(project.root) as repo:
        tree = repo.read_commit(bytes.fromhex(first)).tree
        entry = lookup(repo.store, tree, b"data/big")
        assert entry is not None and isinstance(read_node(repo.store, entry.id), TreeFanout)
    v1 = project.snapshot()
    assert project.status()["clean"]

    # one change, one addition, one deletion inside the sharded directory
    (big / "img00007.txt").write_text("relabelled\n")
    (big / "new.txt").write_text("new\n")
    (big / "img00500.txt").unlink()
    status = project.status()
    assert status["modified"] == ["data/big/img00007.txt"]
    assert status["deleted"] == ["data/big/img00500.txt"]
    assert status["untracked"] == ["data/big/new.txt"]
    project.ok("add", "data")
    assert stage_tree_is_canonical(project.root)
    staged = {c["path"]: c["status"] for c in project.status()["staged"]}
    assert staged == {
        "data/big/img00007.txt": "modified",
        "data/big/img00500.txt": "deleted",
        "data/big/new.txt": "added",
    }
    second = project.commit("v2")
    v2 = project.snapshot()
    diff = project.ok("diff", first, second, "--json").json()
    assert sorted(c["path"] for c in diff) == sorted(staged)

    project.ok("checkout", first)
    assert project.snapshot() == v1 and project.status()["clean"]
    assert stage_tree_is_canonical(project.root)
    project.ok("checkout", "main")
    assert project.snapshot() == v2 and project.status()["clean"]

    # rm takes the directory back below the threshold: one plain tree again
    project.ok("rm", *(f"data/big/img{i:05d}.txt" for i in range(100)))
    assert stage_tree_is_canonical(project.root)
    v3 = project.commit("v3")
    with Repo.open(project.root) as repo:
        tree = repo.read_commit(bytes.fromhex(v3)).tree
        entry = lookup(repo.store, tree, b"data/big")
        assert entry is not None and isinstance(read_node(repo.store, entry.id), Tree)
    project.ok("verify")

    remote = tmp_path / "remote"
    project.ok("remote", "add", "--init", "origin", str(remote))
    project.ok("push", "origin", "main")
    clone = tmp_path / "clone"
    project.ok("clone", str(remote), str(clone), cwd=tmp_path)
    assert Project(clone, project.env).snapshot() == project.snapshot()
    shutil.rmtree(clone)
