"""The git merge driver for dvault.lock, through the real git CLI: two clones of a bare git
repo sharing a dvault remote change different data; `git pull` merges the pinned data."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import snapshot
from tests.remote.conftest import AWS_ENV, moto_server, s3_target  # noqa: F401

from .conftest import V1, GitProject, change_data

ALICE = {**V1, "a.txt": b"alpha, relabelled by alice\n"}
BOB = {**V1, "new/d.txt": b"delta from bob\n" * 1000}
BOTH = {**V1, "a.txt": ALICE["a.txt"], "new/d.txt": BOB["new/d.txt"]}


def _expected(files: dict[str, bytes], where: Path) -> dict[str, tuple[str, ...]]:
    for rel, content in files.items():
        (where / rel).parent.mkdir(parents=True, exist_ok=True)
        (where / rel).write_bytes(content)
    return snapshot(where)


def _two_clones(hooked: GitProject, bare: Path, tmp_path: Path) -> tuple[GitProject, GitProject]:
    """alice is ``hooked`` (pushed); bob is a git clone of ``bare`` with hooks and data."""
    hooked.git("push", "-q", "origin", "main")
    bob = GitProject(tmp_path / "bob", hooked.env)
    subprocess.run(
        ["git", "clone", "-q", "-b", "main", str(bare), str(bob.root)],
        env=hooked.env,
        check=True,
    )
    bob.ok("pull")  # materialises the pinned data
    bob.ok("hooks", "install")
    return hooked, bob


@pytest.fixture(params=["dir", "s3"])
def shared(
    request: pytest.FixtureRequest, v1: GitProject, bare: Path, tmp_path: Path
) -> GitProject:
    """``hooked`` with the shared dvault remote a directory or an S3 bucket (moto)."""
    v1.env.update(AWS_ENV)
    if request.param == "dir":
        where = [str(tmp_path / "dvault-remote")]
    else:
        target = s3_target(request.getfixturevalue("moto_server"), v1.env)
        where = [target.url, *target.options]
    v1.ok("remote", "add", "--init", "origin", *where)
    v1.ok("hooks", "install")
    v1.git("add", "-A")
    v1.git("commit", "-q", "-m", "data v1")
    v1.git("remote", "add", "origin", str(bare))
    return v1


def test_install_registers_the_driver_and_uninstall_removes_only_that(
    gitproj: GitProject,
) -> None:
    """install writes [merge "dvault"] (the interpreter quoted) and the .gitattributes line
    after the user's own; uninstall takes both away and leaves the user's line."""
    gitproj.write(".gitattributes", "*.bin binary\n")
    result = gitproj.ok("hooks", "install")
    assert "merge-driver: registered" in result.out, result.describe()
    driver = gitproj.git("config", "--get", "merge.dvault.driver").out.strip()
    words = shlex.split(driver)  # as sh reads it: the interpreter is one word
    assert words[1:] == ["-m", "dvault", "hook", "merge-driver", "%O", "%A", "%B", "%P"], driver
    assert Path(words[0]).is_file(), driver
    attributes = (gitproj.root / ".gitattributes").read_text()
    assert attributes.startswith("*.bin binary\n") and "\ndvault.lock merge=dvault\n" in attributes
    check = gitproj.git("check-attr", "merge", "dvault.lock").out
    assert check.strip() == "dvault.lock: merge: dvault", check
    gitproj.ok("hooks", "install")  # a refresh adds nothing twice
    assert (gitproj.root / ".gitattributes").read_text() == attributes

    gitproj.ok("hooks", "uninstall")
    assert gitproj.git("config", "--get", "merge.dvault.driver", check=False).code != 0
    assert (gitproj.root / ".gitattributes").read_text() == "*.bin binary\n"


def test_install_refuses_a_foreign_merge_driver(gitproj: GitProject) -> None:
    """A [merge "dvault"] dvault did not write is refused before any hook is installed."""
    gitproj.git("config", "merge.dvault.driver", "my-own-tool %A")
    result = gitproj.run("hooks", "install")
    assert result.code == 2 and "did not install" in result.err, result.describe()
    assert not (gitproj.root / ".git" / "hooks" / "pre-commit").exists()
    assert gitproj.git("config", "--get", "merge.dvault.driver").out.strip() == "my-own-tool %A"


def test_git_pull_merges_the_pinned_data_of_two_clones(
    shared: GitProject, bare: Path, tmp_path: Path
) -> None:
    """alice relabels a.txt and pushes (git + data); bob adds new/d.txt and `git pull`s:
    the driver merges the data, dvault.lock names a merge commit whose parents are both
    pins, bob's work tree holds both changes byte for byte, and alice gets it back from
    the remote (a directory, and S3)."""
    alice, bob = _two_clones(shared, bare, tmp_path)
    change_data(alice, ALICE, "alice relabels")
    alice.git("push", "-q", "origin", "main")
    alice_pin = alice.pin()
    change_data(bob, BOB, "bob adds d")
    bob_pin = bob.pin()

    result = bob.git("pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    assert "dvault: merge-driver: merged the data" in result.err, result.describe()
    merged = bob.pin()
    assert merged == bob.pin("HEAD") and merged not in (alice_pin, bob_pin)
    shown = bob.show_json(merged)
    assert shown["parents"] == [bob_pin, alice_pin], shown
    want = _expected(BOTH, tmp_path / "expected")
    assert bob.data() == want
    assert bob.ok("status", "--exit-code").code == 0
    assert bob.git("status", "--porcelain").out == ""
    parents = bob.git("rev-list", "--parents", "-n", "1", "HEAD").out.split()
    assert len(parents) == 3  # a git merge commit

    bob.git("push", "-q", "origin", "main")  # pre-push sends the merged data
    alice.git("pull", "-q", "--ff-only", "origin", "main")  # post-merge materialises it
    assert alice.pin() == merged
    assert alice.data() == want
    assert alice.ok("status", "--exit-code").code == 0


def test_git_merge_of_conflicting_data_stops_and_dvault_finishes_it(
    hooked: GitProject, bare: Path, tmp_path: Path
) -> None:
    """Both change b.bin: git stops with dvault.lock holding both pins between markers and
    dvault's merge stopped on the conflict (bob's branch has not moved); bob takes theirs,
    `dvault merge --continue` commits the data merge and writes the merged pin, and git
    commits the merge."""
    alice, bob = _two_clones(hooked, bare, tmp_path)
    change_data(alice, {**V1, "b.bin": b"\x01" * 4000}, "alice's b")
    alice.git("push", "-q", "origin", "main")
    change_data(bob, {**V1, "b.bin": b"\x02" * 4000}, "bob's b")
    bob_pin = bob.pin()

    result = bob.git("pull", "-q", "--no-rebase", "--no-edit", "origin", "main", check=False)
    assert result.code != 0, result.describe()
    assert "dvault: merge-driver: merge of" in result.err, result.describe()
    assert "1 conflicting path" in result.err and "Traceback" not in result.err
    lock = bob.lock()
    assert lock.startswith("<<<<<<< ours\n") and bob_pin in lock and alice.pin() in lock
    assert "UU dvault.lock" in bob.git("status", "--porcelain").out
    assert bob.ok("log", "-n", "1", "--json").json()[0]["id"] == bob_pin
    assert bob.ok("status", "--json").json()["unmerged"] == ["data/b.bin"]

    bob.ok("checkout", "--theirs", "--", "data/b.bin")
    bob.ok("merge", "--continue")
    merged = bob.ok("log", "-n", "1", "--json").json()[0]
    assert merged["parents"] == [bob_pin, alice.pin()]
    assert bob.pin() == merged["id"]  # the merged pin replaced the conflicted one
    assert (bob.root / "data" / "b.bin").read_bytes() == b"\x01" * 4000
    bob.git("add", "dvault.lock")
    bob.git("commit", "-q", "--no-edit")
    assert bob.git("status", "--porcelain").out == ""


def test_hostile_or_unknown_pins_are_refused_with_nothing_changed(
    hooked: GitProject, bare: Path, tmp_path: Path
) -> None:
    """A pushed dvault.lock with a root escaping the project, or naming data no remote
    has, stops the git merge with one line; bob's data and data branch do not move."""
    alice, bob = _two_clones(hooked, bare, tmp_path)
    change_data(bob, BOB, "bob adds d")
    bob_pin, before = bob.pin(), bob.data()
    good = alice.lock()
    bad_locks = [
        (
            good + '\n[roots."../escape"]\nkind = "dataset"\ntree = "00"\nsize = 0\nfiles = 0\n',
            "is not a valid dvault.lock",
        ),
        (good.replace(alice.pin(), "ab" * 32), "is missing"),
    ]
    for number, (text, expected) in enumerate(bad_locks):
        (alice.root / "dvault.lock").write_text(text)
        alice.git("commit", "-q", "--no-verify", "-am", f"hostile pin {number}")
        alice.git("push", "-q", "--no-verify", "origin", "main")
        result = bob.git("pull", "-q", "--no-rebase", "--no-edit", "origin", "main", check=False)
        assert result.code != 0, result.describe()
        lines = [line for line in result.err.splitlines() if line.startswith("dvault:")]
        assert len(lines) == 1 and lines[0].startswith("dvault: merge-driver: "), result.err
        assert expected in lines[0] and "Traceback" not in result.err
        assert bob.lock().startswith("<<<<<<< ours\n")
        assert bob.data() == before
        assert bob.ok("log", "-n", "1", "--json").json()[0]["id"] == bob_pin
        bob.git("merge", "--abort")
        assert bob.pin() == bob_pin


def test_uninstall_in_another_clone_leaves_the_committed_attribute(
    hooked: GitProject, bare: Path, tmp_path: Path
) -> None:
    """bob's clone found the line in the committed .gitattributes: his uninstall removes
    his .git/config section only; alice's, whose install wrote the line, removes it."""
    alice, bob = _two_clones(hooked, bare, tmp_path)
    committed = (bob.root / ".gitattributes").read_text()
    assert "dvault.lock merge=dvault" in committed
    result = bob.ok("hooks", "uninstall")
    assert "removed from .git/config" in result.out and ".gitattributes" not in result.out
    assert bob.git("config", "--get", "merge.dvault.driver", check=False).code != 0
    assert (bob.root / ".gitattributes").read_text() == committed
    assert bob.git("status", "--porcelain").out == ""
    alice.ok("hooks", "uninstall")
    assert not (alice.root / ".gitattributes").exists()
