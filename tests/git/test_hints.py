"""Every fix the hooks and the merge driver print is run verbatim through real git, and
the data ends right with nothing lost: a refused post-checkout (the half-switched state),
each pre-commit refusal, and a dvault.lock merge conflict."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.cli.helpers import snapshot
from tests.cli.hint_commands import run_line, the_command

from .conftest import V1, GitProject, change_data
from .test_merge_driver import _two_clones

V2 = {**V1, "a.txt": b"alpha, relabelled\n", "new/d.txt": b"delta\n"}
EDIT = b"precious unsaved edit\n"
ELSEWHERE = b"unrelated edit, carried\n"


def _expected(files: dict[str, bytes], tmp: Path, **over: bytes) -> dict[str, tuple[str, ...]]:
    for rel, content in {**files, **over}.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_bytes(content)
    return snapshot(tmp)


def _half_switched(hooked: GitProject) -> str:
    """git on v1's commit, data still v2 with an edit of a.txt (which v1 changes) and of
    b.bin (which it does not): post-checkout refused. Returns git's stderr."""
    change_data(hooked, V2, "v2")
    hooked.write("data/a.txt", EDIT)
    hooked.write("data/b.bin", ELSEWHERE)
    result = hooked.git("checkout", "-q", "HEAD~1", check=False)
    assert "dvault: post-checkout:" in result.err, result.describe()
    assert "git moved to a commit whose dvault.lock pins" in result.err
    assert (hooked.root / "data/a.txt").read_bytes() == EDIT
    return result.err


def _git_runner(proj: GitProject) -> Callable[..., object]:
    return lambda *args: proj.git(*args)


def test_post_checkout_force_as_printed(hooked: GitProject, tmp_path: Path) -> None:
    """The printed `dvault checkout --force --pin`: the data is the pin's, the edit it
    overwrote is in lost+found, the unrelated edit is carried; git commits."""
    err = _half_switched(hooked)
    pin = hooked.pin()
    command = the_command(err, "--force")
    assert command == "dvault checkout --force --pin"
    run_line(hooked, command)
    assert hooked.data() == _expected(V1, tmp_path / "want", **{"b.bin": ELSEWHERE})
    kept = list((hooked.root / ".dvault" / "lost+found").glob("*/data/a.txt"))
    assert [k.read_bytes() for k in kept] == [EDIT]
    assert hooked.ok("log", "-n", "1", "--json").json()[0]["id"] == pin


def test_post_checkout_stash_as_printed(hooked: GitProject, tmp_path: Path) -> None:
    """The printed `dvault stash push && dvault checkout PIN`: the data is the pin's;
    back on v2 (git checkout, the hook), stash pop returns both edits."""
    err = _half_switched(hooked)
    run_line(hooked, the_command(err, "stash push"))
    assert hooked.data() == _expected(V1, tmp_path / "v1")
    hooked.git("checkout", "-q", "main")
    hooked.ok("stash", "pop")
    want = _expected(V2, tmp_path / "v2", **{"a.txt": EDIT, "b.bin": ELSEWHERE})
    assert hooked.data() == want


def test_pre_commit_on_the_wrong_base_as_printed(hooked: GitProject, tmp_path: Path) -> None:
    """Half-switched with edits, `git commit` is refused with `dvault stash push &&
    dvault checkout PIN` (not "commit them": that would commit v2's data on v1's git
    commit); run, the commit goes through pinning v1, the edits are in the stash."""
    _half_switched(hooked)
    hooked.write("train.py", "print('fix')\n")
    hooked.git("add", "train.py")
    refused = hooked.git("commit", "-q", "-m", "fix", check=False)
    assert refused.code != 0 and "wrong base" in refused.err, refused.describe()
    run_line(hooked, the_command(refused.err, "stash push"))
    hooked.git("commit", "-q", "-m", "fix")
    assert hooked.data() == _expected(V1, tmp_path / "v1")
    assert hooked.pin("HEAD") == hooked.pin("HEAD~1")
    run_line(hooked, the_command(refused.err, "stash list"))
    changed = hooked.ok("stash", "show", "--json").json()["changes"]
    assert {c["path"] for c in changed} == {"data/a.txt", "data/b.bin"}


def test_pre_commit_data_not_at_pin_as_printed(hooked: GitProject, tmp_path: Path) -> None:
    """Half-switched without edits (they were undone by hand): the fix is `dvault
    checkout --pin`, not `dvault commit -a` (which said "nothing to commit")."""
    _half_switched(hooked)
    hooked.write("data/a.txt", V2["a.txt"])
    hooked.write("data/b.bin", V2["b.bin"])
    refused = hooked.git("commit", "-q", "--allow-empty", "-m", "x", check=False)
    assert refused.code != 0, refused.describe()
    command = the_command(refused.err, "checkout")
    assert command == "dvault checkout --pin"
    run_line(hooked, command)
    hooked.git("commit", "-q", "--allow-empty", "-m", "x")
    assert hooked.data() == _expected(V1, tmp_path / "v1")


def test_pre_commit_uncommitted_data_as_printed(hooked: GitProject) -> None:
    """Data edited at the pin: `dvault commit -a -m 'MESSAGE' && git add dvault.lock`,
    run verbatim, lets the same git commit through, pinning the edit."""
    hooked.write("data/a.txt", b"edited\n")
    refused = hooked.git("commit", "-q", "--allow-empty", "-m", "x", check=False)
    assert refused.code != 0, refused.describe()
    run_line(hooked, the_command(refused.err, "dvault commit -a"), _git_runner(hooked))
    hooked.git("commit", "-q", "--allow-empty", "-m", "x")
    pinned = hooked.pin("HEAD")
    assert hooked.ok("show", f"{pinned}:data/a.txt").out == "edited\n"


def test_pre_commit_unstaged_lock_as_printed(hooked: GitProject) -> None:
    """Data committed to dvault, dvault.lock not staged: the fix is `git add
    dvault.lock` (the old `dvault commit -a ...` answered "nothing to commit")."""
    hooked.write("data/a.txt", b"v2\n")
    hooked.ok("commit", "-a", "-m", "v2")
    refused = hooked.git("commit", "-q", "--allow-empty", "-m", "x", check=False)
    assert refused.code != 0, refused.describe()
    command = the_command(refused.err, "git add")
    assert command == "git add dvault.lock"
    run_line(hooked, command, _git_runner(hooked))
    hooked.git("commit", "-q", "--allow-empty", "-m", "x")
    assert hooked.pin("HEAD") == hooked.ok("log", "-n", "1", "--json").json()[0]["id"]


def test_lock_merge_conflict_as_printed(hooked: GitProject, bare: Path, tmp_path: Path) -> None:
    """git pull with both sides changing b.bin: the merge driver's printed commands and,
    for a `git commit` tried first, pre-commit's, run verbatim, finish the merge with
    their data and the merged pin committed to git."""
    alice, bob = _two_clones(hooked, bare, tmp_path)
    change_data(alice, {**V1, "b.bin": b"\x01" * 4000}, "alice's b")
    alice.git("push", "-q", "origin", "main")
    change_data(bob, {**V1, "b.bin": b"\x02" * 4000}, "bob's b")
    bob_pin = bob.pin()
    pulled = bob.git("pull", "-q", "--no-rebase", "--no-edit", "origin", "main", check=False)
    assert pulled.code != 0, pulled.describe()
    take = the_command(pulled.err, "--theirs")
    assert take == "dvault checkout --theirs -- data/b.bin"
    finish = the_command(pulled.err, "merge --continue")
    # a user who stages the conflicted lock and commits first is told the same
    bob.git("add", "dvault.lock")
    refused = bob.git("commit", "-q", "--no-edit", check=False)
    assert refused.code != 0 and "merge" in refused.err, refused.describe()
    assert the_command(refused.err, "--theirs") == take
    assert the_command(refused.err, "merge --continue").startswith("dvault merge --continue")
    run_line(bob, take)
    run_line(bob, finish, _git_runner(bob))
    merged = bob.ok("log", "-n", "1", "--json").json()[0]
    assert merged["parents"] == [bob_pin, alice.pin()]
    assert bob.pin("HEAD") == merged["id"]
    assert (bob.root / "data" / "b.bin").read_bytes() == b"\x01" * 4000
    assert bob.git("status", "--porcelain").out == ""
    assert os.listdir(bob.root / ".dvault").count("MERGE_STATE") == 0


def test_lock_merge_conflict_abort_as_printed(
    hooked: GitProject, bare: Path, tmp_path: Path
) -> None:
    """The printed way out, `dvault merge --abort && git merge --abort`, and `dvault
    status`: both repositories back where bob was, nothing lost."""
    alice, bob = _two_clones(hooked, bare, tmp_path)
    change_data(alice, {**V1, "b.bin": b"\x01" * 4000}, "alice's b")
    alice.git("push", "-q", "origin", "main")
    change_data(bob, {**V1, "b.bin": b"\x02" * 4000}, "bob's b")
    bob_pin, bob_sha = bob.pin(), bob.sha()
    pulled = bob.git("pull", "-q", "--no-rebase", "--no-edit", "origin", "main", check=False)
    assert pulled.code != 0, pulled.describe()
    (listing,) = run_line(bob, the_command(pulled.err, "dvault status"))
    assert "data/b.bin" in listing.out
    run_line(bob, the_command(pulled.err, "--abort"), _git_runner(bob))
    assert bob.sha() == bob_sha and bob.pin() == bob_pin
    assert bob.ok("log", "-n", "1", "--json").json()[0]["id"] == bob_pin
    assert (bob.root / "data" / "b.bin").read_bytes() == b"\x02" * 4000
    assert bob.git("status", "--porcelain").out == ""


def test_pre_commit_missing_lock_as_printed(hooked: GitProject) -> None:
    """dvault.lock deleted: the printed `dvault checkout main && git add dvault.lock`
    writes it back for the current data commit and the git commit goes through."""
    (hooked.root / "dvault.lock").unlink()
    refused = hooked.git("commit", "-q", "--allow-empty", "-m", "x", check=False)
    assert refused.code != 0 and "no dvault.lock" in refused.err, refused.describe()
    command = the_command(refused.err, "git add")
    assert command == "dvault checkout main && git add dvault.lock"
    run_line(hooked, command, _git_runner(hooked))
    hooked.git("commit", "-q", "--allow-empty", "-m", "x")
    assert hooked.pin("HEAD") == hooked.ok("log", "-n", "1", "--json").json()[0]["id"]
