"""post-checkout and post-merge: git's own commands bring the pinned data along."""

from __future__ import annotations

from tests.cli.helpers import snapshot

from .conftest import V1, GitProject, change_data

V2 = {**V1, "a.txt": b"alpha, relabelled\n", "new/d.txt": b"delta\n"}
del V2["sub/c.txt"]


def _expected(files: dict[str, bytes], tmp: GitProject, name: str) -> dict:
    """The snapshot a data/ holding exactly ``files`` has."""
    top = tmp.root.parent / f"expected-{name}"
    for rel, content in files.items():
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_bytes(content)
    return snapshot(top)


def test_git_checkout_brings_data_back_byte_for_byte(hooked: GitProject) -> None:
    """`git checkout HEAD~1` restores the v1 data; `git checkout main` returns to v2."""
    want1, want2 = _expected(V1, hooked, "v1"), _expected(V2, hooked, "v2")
    assert hooked.data() == want1
    change_data(hooked, V2, "v2")
    assert hooked.data() == want2
    result = hooked.git("checkout", "-q", "HEAD~1")
    assert "dvault: post-checkout: data checked out at" in result.err, result.describe()
    assert hooked.data() == want1
    assert hooked.ok("status", "--exit-code").code == 0
    hooked.git("checkout", "-q", "main")
    assert hooked.data() == want2
    assert hooked.ok("status", "--exit-code").code == 0
    assert hooked.ok("log", "-n", "1", "--json").json()[0]["id"] == hooked.pin("main")


def test_file_checkout_does_not_touch_data(hooked: GitProject) -> None:
    """`git checkout -- dvault.lock` (a file checkout, flag 0) leaves the data alone."""
    hooked.write_tree(V2)
    hooked.ok("commit", "-a", "-m", "v2, not yet in git")  # rewrites dvault.lock
    want2 = hooked.data()
    hooked.write("train.py", "print('edited')\n")
    result = hooked.git("checkout", "--", "dvault.lock", "train.py")
    assert "file checkout: data unchanged" in result.err, result.describe()
    assert hooked.lock() == hooked.lock("HEAD")  # the file came back from git ...
    assert (hooked.root / "train.py").read_text() == "print('train')\n"
    assert hooked.data() == want2  # ... but the data stayed at v2
    assert hooked.ok("status", "--exit-code").code == 0


def test_fast_forward_merge_materialises_merged_pin(hooked: GitProject) -> None:
    """`git merge` of a branch that changed the data checks out the merged pin."""
    want1, want2 = _expected(V1, hooked, "v1"), _expected(V2, hooked, "v2")
    hooked.git("checkout", "-q", "-b", "relabel")
    change_data(hooked, V2, "v2 on a branch")
    hooked.git("checkout", "-q", "main")
    assert hooked.data() == want1
    result = hooked.git("merge", "--ff-only", "relabel")
    assert "dvault: post-merge: data checked out at" in result.err, result.describe()
    assert hooked.sha("main") == hooked.sha("relabel")
    assert hooked.data() == want2
    assert hooked.ok("log", "-n", "1", "--json").json()[0]["id"] == hooked.pin("HEAD")
    assert hooked.ok("status", "--exit-code").code == 0


def test_git_checkout_never_overwrites_uncommitted_data(hooked: GitProject) -> None:
    """An edited data file that the older pin would replace is kept; the hook says why."""
    change_data(hooked, V2, "v2")
    hooked.write("data/a.txt", b"precious unsaved edit\n")
    result = hooked.git("checkout", "-q", "HEAD~1", check=False)
    assert result.code != 0, result.describe()
    assert "dvault: post-checkout:" in result.err and "data/a.txt" in result.err
    assert (hooked.root / "data" / "a.txt").read_bytes() == b"precious unsaved edit\n"
    assert (hooked.root / "data" / "new" / "d.txt").read_bytes() == V2["new/d.txt"]
    # nothing half-applied: v2 plus the one edit, no file of v1 written
    status = hooked.ok("status", "--json").json()
    assert status["modified"] == ["data/a.txt"] and not status["deleted"], status
