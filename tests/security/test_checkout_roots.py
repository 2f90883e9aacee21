"""Attack A1: a commit's tracked roots were trusted verbatim.

A writer to the remote publishes a commit whose ``roots`` name ``.env``, ``.git``,
``../secret``, ``/abs`` or a name holding a newline. Before the fix the victim's ``pull``
adopted them: the next ``commit -a`` staged ``.env`` and all of ``.git/`` (tokens in
``.git/config``) and ``push`` uploaded them, and the newline wrote lines of the
attacker's choosing into ``.gitignore`` (hiding a planted file from ``git status``) and
into ``dvault.lock``. Now every root is validated wherever it comes from
(``names.check_root``), and a pull or checkout that would add roots names them and
stops unless the user passes ``--accept-roots``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from dvault.hashing import ObjectId
from dvault.repo import Repo
from dvault.trees import lookup
from tests.cli.helpers import git, one_error_line
from tests.security._checkout_helpers import Forger, Scene, git_status


def forge_roots(scene: Scene, roots: dict[str, str], extra: dict[bytes, Any] | None = None) -> None:
    """Publish a child of main with the same data, plus ``extra`` files, and ``roots``."""
    commit = forge_commit(scene, roots, extra)
    scene.publish(commit)


def forge_commit(scene: Scene, roots: dict[str, str], extra: dict[bytes, Any] | None) -> ObjectId:
    """A child of main: its top-level entries with ``extra``'s replacing them by name."""
    with scene.forger() as repo, Forger(repo) as forger:
        return forger.child_of_main(scene, extra or {}, roots)


def victim_state(scene: Scene) -> dict[str, object]:
    """What a refused pull must leave as it was: the work tree's git-facing files, the
    tracked roots, HEAD and the stage (read in-process, read-only)."""
    root = scene.victim.root
    with Repo.open(root) as repo:
        return {
            "gitignore": (root / ".gitignore").read_bytes(),
            "lock": (root / "dvault.lock").read_bytes(),
            "roots": repo.roots(),
            "head": repo.head(),
            "stage": repo.state.stage_tree(),
            "files": sorted(p.name for p in (root / "data").iterdir()),
            "top": sorted(p.name for p in root.iterdir()),
        }


@pytest.mark.parametrize(
    "root",
    [".git", "../secret", "/abs", "cfg\n/conftest.py", "data/.git/hooks", ".dvault"],
    ids=["dotgit", "climb", "absolute", "newline", "nested-git", "dvault"],
)
def test_a_pull_refuses_invalid_roots_and_changes_nothing(scene: Scene, root: str) -> None:
    """Invalid roots fail to decode (they are corrupt wherever they come from), so the
    pull stops in one line, even with --accept-roots, and nothing changes: no line is
    added to .gitignore or dvault.lock, no root is tracked."""
    forge_roots(scene, {root: "dataset"})
    before = victim_state(scene)
    result = scene.victim.run("pull", *(["--accept-roots"] if root == ".git" else []))
    assert result.code == 3, result.describe()
    assert "invalid tracked root" in one_error_line(result)
    assert victim_state(scene) == before
    assert "conftest" not in (scene.victim.root / ".gitignore").read_text()


def test_a_new_root_needs_accept_roots_and_then_only_it(scene: Scene) -> None:
    """``.env`` is a valid path but not one the victim tracks: the pull names it and
    stops (exit 2, nothing written); the victim's next ``commit -a`` does not stage the
    secret (before the fix it did, and ``push`` uploaded it)."""
    victim = scene.victim
    victim.write(".env", "AWS_SECRET_ACCESS_KEY=hunter2\n")
    forge_roots(scene, {".env": "other"}, {b"data": {b"a.txt": b"alpha\n", b"b.txt": b"new\n"}})
    before = victim_state(scene)
    result = victim.run("pull")
    assert result.code == 2, result.describe()
    line = one_error_line(result)
    assert "'.env'" in line and "--accept-roots" in line
    assert victim_state(scene) == before
    assert ".env" not in str(victim.status())
    victim.ok("commit", "-a", "-m", "my work", "--allow-empty")
    with Repo.open(victim.root) as repo:
        assert ".env" not in repo.roots()
        _, head = repo.head()
        assert head is not None and lookup(repo.store, repo.read_commit(head).tree, b".env") is None


def test_accepting_a_new_root_is_the_users_choice(scene: Scene) -> None:
    forge_roots(scene, {"extra": "labels"}, {b"extra": {b"l.csv": b"x,1\n"}})
    assert scene.victim.run("pull").code == 2
    scene.victim.ok("pull", "--accept-roots")
    assert (scene.victim.root / "extra" / "l.csv").read_text() == "x,1\n"
    with Repo.open(scene.victim.root) as repo:
        assert repo.roots() == {"data": "dataset", "extra": "labels"}
    assert "/extra" in (scene.victim.root / ".gitignore").read_text().splitlines()


def test_newline_in_a_root_cannot_inject_gitignore_or_lock_lines(scene: Scene) -> None:
    """The old client wrote ``/cfg`` and ``/conftest.py`` into .gitignore (a planted
    conftest.py then hid from ``git status``) and a broken table into dvault.lock."""
    forge_roots(scene, {"cfg\n/conftest.py": "dataset"})
    result = scene.victim.run("pull")
    (scene.victim.root / "conftest.py").write_text("import os  # planted\n")
    assert "conftest.py" in git_status(scene.victim)
    gitignore = (scene.victim.root / ".gitignore").read_text().splitlines()
    assert "/conftest.py" not in gitignore
    import tomllib

    lock = tomllib.loads((scene.victim.root / "dvault.lock").read_text())
    assert list(lock["roots"]) == ["data"]
    assert result.code == 3 and "invalid tracked root" in one_error_line(result)


def test_an_honest_update_with_the_same_roots_still_pulls(scene: Scene) -> None:
    """No regression: roots the victim already tracks need no flag."""
    forge_roots(scene, {}, {b"data": {b"a.txt": b"alpha\n", b"c.txt": b"more\n"}})
    scene.victim.ok("pull")
    assert (scene.victim.root / "data" / "c.txt").read_text() == "more\n"


def test_clone_takes_the_remotes_roots_only_where_its_tree_has_them(
    scene: Scene, tmp_path: Path
) -> None:
    """A clone asked for that repository: it tracks the roots its tree holds, but a root
    naming nothing (``.env``, waiting for the user's own secrets) is not tracked."""
    forge_roots(scene, {".env": "other"})
    dest = tmp_path / "clone"
    cloned = scene.victim.ok("clone", str(scene.remote), str(dest), "--json").json()
    assert cloned["roots_not_tracked"] == [".env"]
    (dest / ".env").write_text("TOKEN=hunter2\n")
    status = scene.victim.ok("status", "--json", cwd=dest).json()
    assert ".env" not in str(status)
    from dvault.repo import Repo

    with Repo.open(dest) as repo:
        assert repo.roots() == {"data": "dataset"}


def test_clone_of_an_invalid_root_fails_and_leaves_nothing(scene: Scene, tmp_path: Path) -> None:
    forge_roots(scene, {".git": "dataset"})
    dest = tmp_path / "clone"
    result = scene.victim.run("clone", str(scene.remote), str(dest))
    assert result.code == 3, result.describe()
    assert "invalid tracked root '.git'" in one_error_line(result)
    assert not dest.exists()


def test_add_refuses_what_a_checkout_would_refuse_as_a_root(scene: Scene) -> None:
    """Writers never store what readers refuse: a root naming a file that configures git
    or dvault, or holding a control character, cannot be added."""
    victim = scene.victim
    victim.write("weird\x1bname/x.txt", "x")
    victim.write(".gitattributes", "* text\n")
    for path in ("weird\x1bname", ".gitattributes"):
        result = victim.run("add", path)
        assert result.code == 2, result.describe()
        assert "cannot track" in one_error_line(result)


def test_a_hook_never_accepts_new_roots_for_the_user(scene: Scene) -> None:
    """A git branch whose dvault.lock pins a commit tracking a new root: the post-checkout
    hook materialises nothing and prints the command that would accept the roots."""
    victim = scene.victim
    victim.ok("hooks", "install")
    commit = forge_commit(scene, {"extra": "labels"}, {b"extra": {b"l.csv": b"x,1\n"}})
    scene.publish(commit)
    git(victim, "checkout", "-qb", "evil")
    (victim.root / "dvault.lock").write_text(f'version = 1\ncommit = "{commit.hex()}"\n')
    git(victim, "commit", "-qam", "pin the new data", "--no-verify")  # another machine
    git(victim, "checkout", "-q", "main")
    before = victim_state(scene)
    proc = subprocess.run(
        ["git", "checkout", "evil"], cwd=victim.root, env=victim.env, capture_output=True, text=True
    )
    assert "dvault checkout --accept-roots" in proc.stderr, proc.stderr
    state = victim_state(scene)
    assert state["roots"] == before["roots"] and state["head"] == before["head"]
    assert not (victim.root / "extra").exists()


def test_roots_this_project_tracked_before_need_no_flag(scene: Scene) -> None:
    """No regression for one's own history: going back to a version without a root and
    forward again re-tracks it without asking (the workspace remembers every root it
    tracked), while a root it never tracked still needs --accept-roots."""
    victim = scene.victim
    victim.write("labels/l.csv", "x,1\n")
    victim.ok("add", "labels")
    victim.ok("commit", "-m", "labels")
    victim.ok("checkout", "HEAD~1")
    assert not (victim.root / "labels").exists()
    victim.ok("checkout", "main")
    assert (victim.root / "labels" / "l.csv").read_text() == "x,1\n"
