"""Branches, tags and revision syntax."""

from __future__ import annotations

from .helpers import Project, one_error_line


def test_branch_create_list_delete(tracked: Project) -> None:
    """`branch NAME` creates, `branch` lists with the current one marked, `-d` deletes."""
    head = tracked.head()
    created = tracked.ok("branch", "relabel")
    assert head[:12] in created.out
    listing = tracked.ok("branch").out.splitlines()
    assert any(line.startswith("* main") for line in listing), listing
    assert any(line.split()[0] == "relabel" for line in listing), listing
    branches = {b["name"]: b for b in tracked.ok("branch", "--json").json()}
    assert branches["main"]["current"] is True
    assert branches["relabel"] == {"name": "relabel", "id": head, "current": False}
    tracked.ok("branch", "-d", "relabel")
    assert [b["name"] for b in tracked.ok("branch", "--json").json()] == ["main"]


def test_branch_at_revision(tracked: Project) -> None:
    """`branch NAME REV` starts the branch at REV, not at HEAD."""
    first = tracked.head()
    tracked.write("data/a.txt", "2\n")
    tracked.commit("second")
    tracked.ok("branch", "old", "HEAD~1")
    branches = {b["name"]: b["id"] for b in tracked.ok("branch", "--json").json()}
    assert branches["old"] == first


def test_cannot_delete_current_branch(tracked: Project) -> None:
    """Deleting the branch HEAD is on fails with exit 2 and keeps the branch."""
    result = tracked.fails(2, "branch", "-d", "main")
    assert "main" in one_error_line(result)
    assert [b["name"] for b in tracked.ok("branch", "--json").json()] == ["main"]
    assert tracked.status()["branch"] == "main"


def test_branch_exists_and_unknown_delete(tracked: Project) -> None:
    """Creating an existing branch or deleting a missing one is a usage error (exit 2)."""
    tracked.ok("branch", "x")
    one_error_line(tracked.fails(2, "branch", "x"))
    one_error_line(tracked.fails(2, "branch", "-d", "nope"))


def test_tag_never_moves(tracked: Project) -> None:
    """`tag NAME` twice fails with exit 2 and the tag still names the original commit."""
    first = tracked.head()
    tracked.ok("tag", "v1", "-m", "baseline")
    tracked.write("data/a.txt", "2\n")
    tracked.commit("second")
    result = tracked.fails(2, "tag", "v1")
    assert "v1" in one_error_line(result)
    tags = {t["name"]: t for t in tracked.ok("tag", "--json").json()}
    assert tags["v1"]["commit"] == first
    assert tags["v1"]["message"] == "baseline"
    assert tracked.log("v1")[0]["id"] == first
    assert "v1" in tracked.ok("tag").out


def test_checkout_branch_attaches_tag_detaches(tracked: Project) -> None:
    """Checking out a branch attaches HEAD (commits move it); a tag or id detaches HEAD."""
    first = tracked.head()
    tracked.ok("tag", "v1")
    tracked.ok("branch", "feature")
    tracked.ok("checkout", "feature")
    st = tracked.status()
    assert (st["branch"], st["head"]) == ("feature", first)
    tracked.write("data/a.txt", "on feature\n")
    feat = tracked.commit("feature work")
    branches = {b["name"]: b["id"] for b in tracked.ok("branch", "--json").json()}
    assert branches == {"main": first, "feature": feat}
    tracked.ok("checkout", "v1")
    st = tracked.status()
    assert st["branch"] is None
    assert st["head"] == first
    assert "detached" in tracked.ok("status").out
    assert (tracked.root / "data" / "a.txt").read_text() == "alpha\n"
    tracked.ok("checkout", "main")
    assert tracked.status()["branch"] == "main"
    tracked.ok("checkout", feat[:10])
    assert tracked.status()["branch"] is None
    assert (tracked.root / "data" / "a.txt").read_text() == "on feature\n"


def test_revision_syntax(tracked: Project) -> None:
    """`REV~N`, `REV^`, abbreviated ids and tags all resolve to the right commit."""
    c1 = tracked.head()
    tracked.write("data/a.txt", "2\n")
    c2 = tracked.commit("second")
    tracked.write("data/a.txt", "3\n")
    c3 = tracked.commit("third")
    tracked.ok("tag", "v2", c2[:8])

    def rid(rev: str) -> str:
        return str(tracked.ok("show", "--json", rev).json()["id"])

    assert rid("HEAD") == c3
    assert rid("HEAD~1") == c2
    assert rid("HEAD~2") == c1
    assert rid("HEAD^") == c2
    assert rid("main~2") == c1
    assert rid("v2") == c2
    assert rid("v2~1") == c1
    assert rid(c1[:7]) == c1
    assert rid(c2) == c2
    assert tracked.ok("show", "HEAD~2:data/a.txt").out == "alpha\n"
    assert [e["id"] for e in tracked.log("HEAD~1")] == [c2, c1]
    one_error_line(tracked.fails(2, "show", "HEAD~3"))
