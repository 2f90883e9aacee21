"""Attack A4: checkout wrote (and removed) through symlinks already in the work tree.

A ``data/cache -> /big/disk`` link the user made, or ``x -> .`` left by an earlier
commit, carried a checkout's writes and removals out of the project. Now nothing is
written, created or removed below a symlink (git's ``has_symlink_leading_path``:
``workspace.safety.SymlinkGuard``), checked for the whole plan before anything is
written, and again as directories are made.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.helpers import one_error_line
from tests.security._checkout_helpers import Forger, Scene


def publish_data(scene: Scene, data: dict[bytes, object]) -> None:
    """A child of main whose ``data`` directory is ``data`` (roots unchanged)."""
    with scene.forger() as repo, Forger(repo) as forger:
        tree, _ = forger.files({b"data": data})
        commit = forger.commit(tree, [scene.tip()], {"data": "dataset"})
    scene.publish(commit)


def test_a_pull_never_writes_through_a_users_symlink(scene: Scene, tmp_path: Path) -> None:
    outside = tmp_path / "big-disk"
    outside.mkdir()
    os.symlink(outside, scene.victim.root / "data" / "cache")
    publish_data(scene, {b"a.txt": b"alpha\n", b"cache": {b"evil.bin": b"planted"}})
    result = scene.victim.run("pull")
    assert result.code == 3, result.describe()
    assert "'data/cache' is a symlink" in one_error_line(result)
    assert list(outside.iterdir()) == []


def test_rm_and_pull_never_delete_through_a_symlink(scene: Scene, tmp_path: Path) -> None:
    """``data/cache`` was a directory when committed; the user then moved it to another
    disk and left a link. Neither ``rm`` nor a pull deleting the file removes the copy on
    that disk."""
    victim = scene.victim
    victim.write("data/cache/old.bin", "weights")
    victim.ok("commit", "-a", "-m", "cache")
    victim.ok("push")
    outside = tmp_path / "big-disk"
    (victim.root / "data" / "cache").rename(outside)
    os.symlink(outside, victim.root / "data" / "cache")
    result = victim.run("rm", "data/cache/old.bin")
    assert result.code == 3, result.describe()
    assert "is a symlink" in one_error_line(result)
    assert (outside / "old.bin").read_text() == "weights"
    publish_data(scene, {b"a.txt": b"alpha\n"})  # the forger (or a teammate) deletes it
    result = victim.run("pull")
    assert result.code == 3, result.describe()
    assert (outside / "old.bin").read_text() == "weights"


def test_a_link_to_dot_from_history_cannot_carry_a_link_out(scene: Scene, tmp_path: Path) -> None:
    """Commit A makes ``data/x -> .`` (a harmless-looking link); commit B holds
    ``data/x/x/l -> ../../..``, which reads as climbing to ``data``'s level but, written
    through ``x -> .``, lands as ``data/l`` pointing two levels above the project.
    Restoring that one path (``checkout REV -- PATH``) must not write through ``x``."""
    victim = scene.victim
    publish_data(scene, {b"a.txt": b"alpha\n", b"x": ("link", b".")})
    victim.ok("pull")
    assert os.readlink(victim.root / "data" / "x") == "."
    publish_data(scene, {b"a.txt": b"alpha\n", b"x": {b"x": {b"l": ("link", b"../../..")}}})
    victim.ok("fetch")
    result = victim.run("checkout", "origin/main", "--", "data/x/x/l")
    assert result.code == 3, result.describe()
    assert "'data/x' is a symlink" in one_error_line(result)
    assert not os.path.lexists(victim.root / "data" / "l")
    # a whole checkout replaces the link by the directory first, then writes below it
    victim.ok("pull")
    assert os.readlink(victim.root / "data" / "x" / "x" / "l") == "../../.."
    assert not os.path.islink(victim.root / "data" / "x")


def test_add_never_stores_a_symlink_a_checkout_would_refuse(scene: Scene) -> None:
    """Writers never store what readers refuse: before, ``commit -a`` stored
    ``data/cache -> /big/disk`` and no clone of that commit could ever be made."""
    victim = scene.victim
    os.symlink("/big/disk", victim.root / "data" / "cache")
    result = victim.run("commit", "-a", "-m", "with the cache link")
    assert result.code == 2, result.describe()
    assert "'data/cache' -> '/big/disk'" in one_error_line(result)
    (victim.root / ".dvaultignore").write_text("/data/cache\n")
    victim.write("data/b.txt", "bravo\n")
    victim.ok("commit", "-a", "-m", "cache ignored")
