"""One default remote, used everywhere: ``dvault remote default NAME`` picks the remote the
git hooks push pins to and fetch pins from, and the one push, fetch and pull use."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cli.helpers import one_error_line

from .conftest import GitProject, change_data, remote_refs
from .test_checkout_merge import V2


def add_remote(proj: GitProject, name: str, path: Path) -> None:
    """A directory remote (the one place these tests create one)."""
    proj.ok("remote", "add", "--init", name, str(path))


def test_hooks_and_pull_use_the_chosen_default(
    hooked: GitProject, bare: Path, dvault_remote: Path, tmp_path: Path
) -> None:
    vault = tmp_path / "vault"
    add_remote(hooked, "vault", vault)
    assert hooked.ok("remote", "default").out == "origin  (no default set: origin)\n"
    assert hooked.ok("remote", "default", "vault").out == "default remote: vault\n"
    assert hooked.ok("remote", "default", "--json").json() == {
        "default": "vault",
        "why": "dvault remote default",
    }
    # recorded for this clone only: git does not see it
    assert "vault" in (hooked.root / ".dvault" / "config.local").read_text()
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "-m", "two remotes")
    assert hooked.git("status", "--porcelain").out == ""

    change_data(hooked, V2, "v2")
    result = hooked.git("push", "-q", "origin", "main")
    assert "pushed the data of 2 pin(s) to vault" in result.err, result.describe()
    pin = hooked.pin()
    assert remote_refs(vault).get(f"refs/pins/{pin}") == pin
    assert remote_refs(dvault_remote) == {}  # the NAS was not the designated remote
    want = hooked.data()

    # a fresh clone of the code: without a default, pull would go to origin (empty)
    clone = GitProject(tmp_path / "clone", hooked.env)
    subprocess.run(
        ["git", "clone", "-q", "-b", "main", str(bare), str(clone.root)],
        env=hooked.env,
        check=True,
    )
    failed = clone.run("pull")
    assert failed.code != 0 and "origin" in one_error_line(failed), failed.describe()
    assert not (clone.root / "data").exists()
    clone.ok("remote", "default", "vault")
    assert "vault" in clone.ok("pull").out
    assert clone.data() == want
    # and the hooks of that clone fetch older pins from the same default
    clone.ok("hooks", "install")
    moved = clone.git("checkout", "-q", "HEAD~1")
    assert "dvault: post-checkout: data checked out at" in moved.err, moved.describe()
    assert clone.pin() == hooked.pin("HEAD~1")
    # push and fetch without a name: the default
    assert "vault" in clone.ok("fetch").out


def test_no_default_among_several_names_the_command(gitproj: GitProject, tmp_path: Path) -> None:
    gitproj.write("data/a.txt", "a\n")
    gitproj.ok("add", "data")
    gitproj.ok("commit", "-m", "one")
    add_remote(gitproj, "nas", tmp_path / "nas")
    add_remote(gitproj, "s3ish", tmp_path / "s3ish")
    before = gitproj.head()
    line = one_error_line(gitproj.fails(2, "push"))
    assert "several remotes (nas, s3ish) and no default" in line
    assert "dvault remote default NAME" in line
    assert one_error_line(gitproj.fails(2, "remote", "default")) == line
    gitproj.ok("remote", "default", "s3ish")  # the command the line names
    assert "s3ish" in gitproj.ok("push").out
    assert remote_refs(tmp_path / "s3ish") == {"refs/heads/main": before}
    assert remote_refs(tmp_path / "nas") == {}
    # removing the default remote forgets the default too
    gitproj.ok("remote", "remove", "s3ish")
    assert gitproj.ok("remote", "default").out == "nas  (the only remote)\n"


def test_a_default_naming_no_remote_is_one_line_and_the_fix_works(
    gitproj: GitProject, tmp_path: Path
) -> None:
    gitproj.write("data/a.txt", "a\n")
    gitproj.ok("add", "data")
    gitproj.ok("commit", "-m", "one")
    add_remote(gitproj, "origin", tmp_path / "origin")
    add_remote(gitproj, "vault", tmp_path / "vault")
    # the committed config may name the team's default; a stale one is refused, not guessed
    gitproj.append_config('\n[remotes]\ndefault = "gone"\n')
    line = one_error_line(gitproj.fails(2, "push"))
    assert "the default remote 'gone' (dvault remote default) is not configured" in line
    assert "run dvault remote default NAME (one of: origin, vault)" in line
    assert remote_refs(tmp_path / "origin") == {} and remote_refs(tmp_path / "vault") == {}
    gitproj.ok("remote", "default", "vault")  # this clone's choice wins over the committed one
    gitproj.ok("push")
    assert remote_refs(tmp_path / "vault") == {"refs/heads/main": gitproj.head()}
    assert remote_refs(tmp_path / "origin") == {}
    # an unknown name is refused, nothing recorded
    one_error_line(gitproj.fails(2, "remote", "default", "nope"))
    assert gitproj.ok("remote", "default").out == "vault  (dvault remote default)\n"


def test_legacy_git_remote_still_chooses_below_the_default(
    gitproj: GitProject, tmp_path: Path
) -> None:
    add_remote(gitproj, "origin", tmp_path / "origin")
    add_remote(gitproj, "nas", tmp_path / "nas")
    gitproj.append_config('\n[git]\nremote = "nas"\n')
    assert gitproj.ok("remote", "default").out == "nas  ([git] remote)\n"
    gitproj.ok("remote", "default", "origin")
    assert gitproj.ok("remote", "default").out == "origin  (dvault remote default)\n"
