"""Merge commits (two parents) through every command that walks history: log --graph,
diff, show, lineage, review, gc, verify and signing (push and fetch:
``tests/remote/test_merge_sync.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import Project, git, git_project, snapshot


def build_merge(proj: Project, *merge_args: str) -> dict[str, str]:
    """main and ``side`` each change one directory (two commits on each side), then
    ``merge --no-ff side``; returns the ids by name (base, m1, m2, s1, s2, merge). In a git
    project git switches branches too, as a user does (data branches follow git's)."""
    in_git = (proj.root / ".git").exists()
    proj.write("data/shared/readme.txt", "shared\n")
    proj.write("data/ours/a.bin", b"\0ours a v1" * 100)
    proj.write("data/theirs/b.bin", b"\0theirs b v1" * 100)
    proj.ok("add", "data")
    ids = {"base": proj.commit("base")}
    proj.ok("branch", "side")
    proj.write("data/ours/a.bin", b"\0ours a v2" * 100)
    ids["m1"] = proj.commit("main one")
    proj.write("data/ours/c.bin", b"\0ours c" * 300)
    ids["m2"] = proj.commit("main two")
    if in_git:
        git(proj, "checkout", "-q", "-b", "side")
    proj.ok("checkout", "side")
    proj.write("data/theirs/b.bin", b"\0theirs b v2" * 100)
    ids["s1"] = proj.commit("side one")
    proj.write("data/theirs/d.bin", b"\0theirs d" * 300)
    ids["s2"] = proj.commit("side two")
    if in_git:
        git(proj, "checkout", "-q", "main")
    proj.ok("checkout", "main")
    proj.ok("merge", "--no-ff", "side", *merge_args)
    ids["merge"] = proj.head()
    return ids


def expected(proj: Project) -> dict[str, tuple[str, ...]]:
    return proj.snapshot()


@pytest.fixture
def merged(project: Project) -> tuple[Project, dict[str, str]]:
    return project, build_merge(project)


def test_merge_commit_has_both_parents_and_both_sides(
    merged: tuple[Project, dict[str, str]],
) -> None:
    """The merge commit's parents are HEAD then the merged branch, and its tree holds
    both sides' directories byte for byte."""
    p, ids = merged
    top = p.log("-n", "1")[0]
    assert top["parents"] == [ids["m2"], ids["s2"]]
    assert (p.root / "data/ours/c.bin").read_bytes() == b"\0ours c" * 300
    assert (p.root / "data/theirs/d.bin").read_bytes() == b"\0theirs d" * 300
    assert (p.root / "data/theirs/b.bin").read_bytes() == b"\0theirs b v2" * 100


def test_log_lists_each_commit_once_and_graph_draws_two_lanes(
    merged: tuple[Project, dict[str, str]],
) -> None:
    """log walks both parents: every commit of both sides once, newest first; --graph
    opens a second lane for the merged side and joins it back at the base."""
    p, ids = merged
    listed = [c["id"] for c in p.log()]
    assert sorted(listed) == sorted(ids.values())
    assert len(listed) == len(set(listed)) == 6
    assert listed[0] == ids["merge"] and listed[-1] == ids["base"]
    graph = p.ok("log", "--oneline", "--graph").out.splitlines()
    commits = [line for line in graph if "*" in line]
    assert len(commits) == 6, graph
    for name in ("main one", "main two", "side one", "side two", "base"):
        assert sum(name in line for line in graph) == 1, graph
    # two lanes: the merged side's commits in the second column, main's in the first
    # with the side lane open beside them, and both lanes joined at the base
    for line in commits:
        if "side one" in line or "side two" in line:
            assert line.startswith("| * "), graph
        if "main one" in line or "main two" in line:
            assert line.startswith("* | "), graph
    assert graph[-1].startswith("* ") and "base" in graph[-1]
    # -n limits the walk over both parents too
    assert [c["id"] for c in p.log("-n", "3")] == listed[:3]


def test_diff_and_show_of_a_merge_compare_with_the_first_parent(
    merged: tuple[Project, dict[str, str]],
) -> None:
    """diff HEAD~1 HEAD (HEAD~1: the first parent) lists what the merge brought from the
    other side; HEAD^2 is the merged side's tip; show of the merge lists both parents."""
    p, ids = merged
    changed = {d["path"]: d["status"] for d in p.ok("diff", "HEAD~1", "HEAD", "--json").json()}
    assert changed == {"data/theirs/b.bin": "modified", "data/theirs/d.bin": "added"}
    from_side = {d["path"] for d in p.ok("diff", "HEAD^2", "HEAD", "--json").json()}
    assert from_side == {"data/ours/a.bin", "data/ours/c.bin"}
    assert p.ok("log", "HEAD^2", "-n", "1", "--json").json()[0]["id"] == ids["s2"]
    shown = p.ok("show", "HEAD", "--json").json()
    assert shown["parents"] == [ids["m2"], ids["s2"]]
    text = p.ok("show", "HEAD").out
    assert f"Merge:  {ids['m2'][:12]} {ids['s2'][:12]}" in text.splitlines()
    assert "data/theirs/d.bin" in text and "data/ours/c.bin" not in text
    assert p.ok("show", "HEAD:data/theirs/d.bin").raw == b"\0theirs d" * 300


def test_lineage_shows_both_parents(merged: tuple[Project, dict[str, str]]) -> None:
    """lineage of the merge names both parents, in the text, JSON and dot formats."""
    p, ids = merged
    data = p.ok("lineage", "HEAD", "--json").json()
    text = p.ok("lineage", "HEAD").out
    dot = p.ok("lineage", "HEAD", "--format", "dot").out
    for parent in (ids["m2"], ids["s2"]):
        assert parent in str(data), data
        assert parent[:12] in text, text
        assert parent[:12] in dot, dot


def test_gc_keeps_both_sides_and_every_commit_restores(
    merged: tuple[Project, dict[str, str]],
) -> None:
    """After the merged branch is deleted and the reflog window is zero, gc still keeps
    every object both sides' commits need (reachable through the second parent):
    verify --read-data is clean and every commit checks out byte for byte."""
    p, ids = merged
    snaps = {}
    for name in ("base", "m1", "m2", "s1", "s2", "merge"):
        p.ok("checkout", ids[name])
        snaps[name] = snapshot(p.root / "data")
    p.ok("checkout", "main")
    p.ok("branch", "-d", "side")
    p.ok("gc", "--keep-within", "0s")
    p.ok("verify", "--all", "--read-data")
    for name in ("base", "m1", "m2", "s1", "s2", "merge"):
        p.ok("checkout", ids[name])
        assert snapshot(p.root / "data") == snaps[name], name
    p.ok("checkout", "main")
    assert p.head() == ids["merge"]


def test_signed_merge_commit_verifies_as_good(project: Project) -> None:
    """merge --sign signs the merge commit; once the key is trusted it shows as good in
    log --show-signature and verify counts it; a missing key fails before any work."""
    p = project
    missing = p.run("merge", "--no-ff", "side", "--sign")
    assert missing.code != 0 and "Traceback" not in missing.err
    p.ok("key", "generate")
    line = p.ok("key", "export").out.strip()
    allowed = Path(p.env["DVAULT_CONFIG_DIR"]) / "allowed_signers"
    allowed.write_text(line + "\n")
    ids = build_merge(p, "--sign")
    statuses = {c["id"]: c["signature"]["status"] for c in p.log("--show-signature")}
    assert statuses[ids["merge"]] == "good"
    assert statuses[ids["s2"]] == "unsigned"
    verified = p.ok("verify", "--json").json()
    assert verified["signatures"]["good"] >= 1
    # --key without --sign is a usage error, nothing changed
    before = p.head()
    assert p.run("merge", "--no-ff", "side", "--key", "default").code == 2
    assert p.head() == before


def test_review_of_a_git_revision_pinning_a_merge(tmp_path: Path, env: dict[str, str]) -> None:
    """In a git project the merge updates dvault.lock; review of the git commit that pins
    the merge finds both parents' data and, once pushed, is reproducible."""
    p = git_project(tmp_path / "gitproj", env)
    p.write("train.py", "print('train')\n")
    git(p, "add", "train.py")
    git(p, "commit", "-qm", "code")
    ids = build_merge(p)
    pin = (p.root / "dvault.lock").read_text()
    assert ids["merge"] in pin
    git(p, "add", "-A")
    git(p, "commit", "-qm", "code + merged data")
    p.ok("remote", "add", "--init", "origin", str(tmp_path / "remote"))
    p.ok("push")
    report = p.ok("review", "--read-data")
    assert "| **PASS** | Data recoverable from a remote |" in report.out, report.out
    data = p.ok("review", "--format", "json").json()
    assert data["reproducible"] is True
    assert data["data"]["commit"] == ids["merge"]
