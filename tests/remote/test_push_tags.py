"""Pushes carry tags: the tags that point into the pushed history go with it (git's
push.followTags), ``--all`` sends every branch and tag, ``--no-tags`` none, ``--dry-run``
says what is not yet on the remote and changes nothing; a tag never moves on a remote."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.helpers import Project, one_error_line, snapshot

from .conftest import RemoteTarget, clone, commit_file, new_project, refs_of


def remote_refs(target: RemoteTarget, where: Path) -> dict[str, str]:
    """The remote's refs (full name -> id), as a fresh project fetching them sees them."""
    proj = new_project(where, target.env)
    proj.ok(*target.add_args("origin"))
    refs: dict[str, str] = proj.ok("fetch", "--json").json()["refs"]
    return refs


def stamps(target: RemoteTarget) -> dict[str, tuple[object, ...]]:
    """Every file on the remote and its stamp (size and modification or version)."""
    listed = target.keys()
    return {key: target.stamp(key) for key in listed}


def state_of(proj: Project) -> dict[str, tuple[str, ...]]:
    """The project's repository minus read caches (the remote's marker and pack footers)
    and the index's reader lock: its refs, reflogs, objects, and the remote's ref-log
    position and confirmations."""
    caches = ("index/lock.mdb", "remotes/origin/marker.json", "remotes/origin/footers")
    found = snapshot(proj.root / ".dvault")
    return {rel: v for rel, v in found.items() if not rel.startswith(caches)}


def test_push_after_tag_puts_the_tag_on_the_remote(
    ml: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """`tag` then a plain `push`: the tag on HEAD and the tag on an older commit go
    along (their tag objects too); a tag on a branch not pushed stays local; a clone has them."""
    v1 = ml.head()
    v2 = commit_file(ml, "data/labels/extra.csv", "file,label\nimg00.bin,1\n", "v2 labels")
    ml.ok("tag", "v2")
    ml.ok("branch", "experiment")
    ml.ok("checkout", "experiment")
    commit_file(ml, "notes/idea.txt", "bigger model\n", "idea")
    ml.ok("tag", "idea")
    ml.ok("checkout", "main")

    result = ml.ok("push")
    assert "refs/tags/v1 -> origin" in result.out, result.describe()
    assert "refs/tags/v2 -> origin" in result.out

    refs = remote_refs(remote, tmp_path / "peek")
    assert set(refs) == {"refs/heads/main", "refs/tags/v1", "refs/tags/v2"}
    copy = clone(remote, tmp_path / "copy")
    assert refs_of(copy) == ({"main": v2}, {"v1": v1, "v2": v2})
    # the tags came with their tag objects: messages and targets survive
    assert copy.ok("tag", "--json").json() == ml.ok("tag", "--json").json()[1:]
    assert "up to date" in ml.ok("push").out


def test_no_tags_leaves_tags_off(ml: Project, remote: RemoteTarget, tmp_path: Path) -> None:
    """`push --no-tags` sends the branch alone; a later plain push sends only the tag."""
    ml.ok("push", "--no-tags")
    assert set(remote_refs(remote, tmp_path / "a")) == {"refs/heads/main"}
    packs = remote.packs()
    result = ml.ok("push")
    assert "refs/tags/v1 -> origin" in result.out
    assert "refs/heads/main" not in result.out
    after = remote.packs()
    assert {key: after[key] for key in packs} == packs
    assert sum(after[key] for key in set(after) - set(packs)) < 4096  # the tag object only
    assert set(remote_refs(remote, tmp_path / "b")) == {"refs/heads/main", "refs/tags/v1"}


def test_all_pushes_every_branch_and_tag(ml: Project, remote: RemoteTarget, tmp_path: Path) -> None:
    """`push --all` sends branches other than the current one, with every tag;
    `--all --no-tags` the branches only; `--all` with names is a usage error."""
    ml.ok("branch", "experiment")
    ml.ok("checkout", "experiment")
    idea = commit_file(ml, "notes/idea.txt", "bigger model\n", "idea")
    ml.ok("tag", "idea")
    ml.ok("checkout", "main")

    before = remote.keys()
    bad = ml.fails(2, "push", "--all", "origin", "main")
    assert "--all" in one_error_line(bad)
    assert remote.keys() == before

    ml.ok("push", "--all", "--no-tags")
    assert set(remote_refs(remote, tmp_path / "a")) == {
        "refs/heads/main",
        "refs/heads/experiment",
    }
    ml.ok("push", "--all")
    refs = remote_refs(remote, tmp_path / "b")
    assert set(refs) == {
        "refs/heads/main",
        "refs/heads/experiment",
        "refs/tags/v1",
        "refs/tags/idea",
    }
    assert refs["refs/heads/experiment"] == idea
    copy = clone(remote, tmp_path / "copy", "--rev", "idea")
    assert (copy.root / "notes/idea.txt").read_text() == "bigger model\n"


def test_dry_run_names_the_tag_and_changes_nothing(ml: Project, remote: RemoteTarget) -> None:
    """`push --dry-run` lists each ref with old -> new and the packs it would send; the
    remote, the local refs, the ref-log position and the workspace stay as they were."""
    ml.ok("push", "--no-tags")
    v2 = commit_file(ml, "data/images/img99.bin", os.urandom(90_000), "v2 image")
    ml.ok("tag", "v2")
    remote_before = stamps(remote)
    dvault_before = state_of(ml)
    work_before = ml.snapshot()

    result = ml.ok("push", "--dry-run")
    out = result.out
    assert "would push to origin" in out, result.describe()
    assert f"refs/heads/main: {ml.log('-n', '2')[1]['id'][:12]} -> {v2[:12]}" in out
    assert "refs/tags/v2: (new) -> " in out
    assert "refs/tags/v1: (new) -> " in out
    assert "would send " in out and "pack(s)" in out
    data = ml.ok("push", "--dry-run", "--json").json()
    assert data["dry_run"] is True and data["updated"] == {}
    assert data["planned"]["refs/tags/v2"]["old"] is None
    assert sorted(data["followed_tags"]) == ["refs/tags/v1", "refs/tags/v2"]
    assert data["packs_to_send"] >= 1 and data["bytes_to_send"] > 90_000

    assert stamps(remote) == remote_before
    assert state_of(ml) == dvault_before
    assert ml.snapshot() == work_before

    ml.ok("push")
    assert "nothing would be pushed" in ml.ok("push", "--dry-run").out


def test_a_tag_never_moves_on_the_remote(ml: Project, remote: RemoteTarget, tmp_path: Path) -> None:
    """A followed tag that the remote holds with another value refuses the whole push in
    one line (nothing sent, no ref moved); `--no-tags` pushes past it."""
    ml.ok("push", "--no-tags")
    other = clone(remote, tmp_path / "other")
    theirs = commit_file(other, "README.md", "# theirs\n", "their release")
    other.ok("tag", "v1")  # the same name, another commit
    other.ok("push")
    ours = commit_file(ml, "README.md", "# ours\n", "our change")
    ml.ok("push", "--force", "--no-tags")  # main moves on; v1 is what matters here

    before = stamps(remote)
    bad = ml.fails(2, "push")
    line = one_error_line(bad)
    assert "'v1' already exists" in line and "--no-tags" in line, line
    assert stamps(remote) == before
    refs = remote_refs(remote, tmp_path / "peek")
    assert refs["refs/heads/main"] == ours
    assert refs_of(Project(tmp_path / "peek", remote.env))[1] == {"v1": theirs}
    assert "up to date" in ml.ok("push", "--no-tags").out
