"""pull of a diverged branch: merges the remote's branch (clean case), or with --ff-only
(or ``[pull] ff = "only"``) refuses with nothing changed; on a directory remote and on S3."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.helpers import Project, one_error_line

from .conftest import RemoteTarget, clone, commit_file, refs_of, tree_digests


def _diverge(ml: Project, remote: RemoteTarget, tmp_path: Path) -> tuple[Project, Project, bytes]:
    """alice relabels img00 in val.csv and pushes; bob adds an image (not pushed)."""
    ml.ok("push", "origin", "main", "v1")
    alice = clone(remote, tmp_path / "alice")
    bob = clone(remote, tmp_path / "bob")
    labels = (alice.root / "data/labels/val.csv").read_text()
    assert "img00.bin,0\n" in labels
    relabelled = labels.replace("img00.bin,0\n", "img00.bin,9\n")
    commit_file(alice, "data/labels/val.csv", relabelled, "alice relabels")
    alice.ok("push")
    image = os.urandom(90_000)
    commit_file(bob, "data/images/img99.bin", image, "bob adds an image")
    return alice, bob, image


def test_pull_of_a_diverged_branch_merges_both_changes(
    ml: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """bob also relabelled another row of the same val.csv: his pull makes a merge commit
    (parents: his tip, then alice's) holding every change byte for byte, the label file
    merged line by line; pushed, it is what alice pulls as a fast-forward."""
    alice, bob, image = _diverge(ml, remote, tmp_path)
    labels = (bob.root / "data/labels/val.csv").read_text()
    assert "img05.bin,5\n" in labels
    bob.write("data/labels/val.csv", labels.replace("img05.bin,5\n", "img05.bin,1\n"))
    bob.commit("bob relabels img05")
    want = labels.replace("img05.bin,5\n", "img05.bin,1\n").replace(
        "img00.bin,0\n", "img00.bin,9\n"
    )
    alice_tip, bob_tip = alice.head(), bob.head()
    result = bob.ok("pull")
    assert "merged" in result.out, result.describe()
    merge = bob.log("-n", "1")[0]
    shown = bob.ok("show", "--json", merge["id"]).json()
    assert shown["parents"] == [bob_tip, alice_tip], shown
    assert (bob.root / "data/labels/val.csv").read_text() == want
    assert (bob.root / "data/images/img99.bin").read_bytes() == image
    bob.ok("status", "--exit-code")

    bob.ok("push")
    alice.ok("pull")
    assert alice.head() == merge["id"]
    assert tree_digests(alice.root) == tree_digests(bob.root)
    assert bob.ok("pull").out.strip().startswith("already up to date")


def test_pull_ff_only_refuses_a_diverged_branch(
    ml: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """--ff-only, and the config's [pull] ff = "only", refuse with one line; the branch
    and the workspace stay as they were."""
    _, bob, _ = _diverge(ml, remote, tmp_path)
    before_refs, before_tree = refs_of(bob), tree_digests(bob.root)
    result = bob.run("pull", "--ff-only")
    assert result.code == 1, result.describe()
    assert "diverged" in one_error_line(result) and "--ff-only" in result.err
    assert refs_of(bob) == before_refs and tree_digests(bob.root) == before_tree

    with open(bob.root / ".dvault" / "config", "a") as f:
        f.write('\n[pull]\nff = "only"\n')
    before_tree = tree_digests(bob.root)
    result = bob.run("pull")
    assert result.code == 1, result.describe()
    assert "diverged" in one_error_line(result)
    assert refs_of(bob) == before_refs and tree_digests(bob.root) == before_tree

    with open(bob.root / ".dvault" / "config.local", "a") as f:
        f.write('\n[pull]\nff = "sometimes"\n')
    result = bob.run("pull")
    assert result.code != 0 and "sometimes" in one_error_line(result)


def test_pull_of_conflicting_branches_stops_the_merge_and_abort_restores(
    ml: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """Both replaced the checkpoint: pull stops the merge on the conflict (the branch has
    not moved, status lists the path, theirs beside it), and ``merge --abort`` brings the
    workspace back byte for byte; resolving with ``--ours`` and ``--continue`` commits."""
    ml.ok("push", "origin", "main", "v1")
    alice = clone(remote, tmp_path / "alice")
    bob = clone(remote, tmp_path / "bob")
    commit_file(alice, "models/checkpoint.bin", os.urandom(5000), "alice's checkpoint")
    alice.ok("push")
    ours = os.urandom(6000)
    commit_file(bob, "models/checkpoint.bin", ours, "bob's checkpoint")
    head = bob.head()
    before_tree = tree_digests(bob.root)
    result = bob.run("pull")
    assert result.code == 1, result.describe()
    *conflicts, error = result.err.splitlines()
    assert conflicts == ["dvault: conflict (both-modified): models/checkpoint.bin"]
    assert error.startswith("dvault: error: merge of") and "Traceback" not in result.err
    assert bob.head() == head
    assert bob.status()["unmerged"] == ["models/checkpoint.bin"]
    bob.ok("merge", "--abort")
    assert bob.head() == head and tree_digests(bob.root) == before_tree
    bob.fails(1, "pull")
    bob.ok("checkout", "--ours", "--", "models/checkpoint.bin")
    bob.ok("merge", "--continue")
    assert (bob.root / "models" / "checkpoint.bin").read_bytes() == ours
    assert bob.log()[0]["parents"][0] == head
