"""Attack A5: bombs above the object level.

Content addressing lets a chunk list repeat one chunk and a tree repeat one subtree: a
couple of KB of packs made a clone write a 256 MiB file and 10,000 files; a chunk list
of a few MB (compressed: a few hundred KB) cost a clone gigabytes of RAM to decode; a
tree 1,500 levels deep crashed clone with a RecursionError traceback and left a half-made
directory. Now a checkout's bytes and files are checked against its caps and the room on
disk before it writes (``workspace.limits``), chunk lists are streamed, every tree
walker is iterative with a depth limit reported as corruption, and a failed clone
removes what it created whatever went wrong.
"""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

from dvault.hashing import ObjectId
from dvault.treeobjects import MODE_DIR, MODE_FILE
from tests.cli.helpers import Result, dvault_command, one_error_line
from tests.security._checkout_helpers import Forger, Scene, tree_paths

MIB = 1 << 20


def data_commit(
    scene: Scene, forger: Forger, data: list[tuple[bytes, int, int, ObjectId]]
) -> ObjectId:
    """A child of main whose ``data`` directory holds ``data``."""
    tree, size = forger.tree(data)
    top, _ = forger.tree([(b"data", MODE_DIR, size, tree)])
    return forger.commit(top, [scene.tip()], {"data": "dataset"})


def big_file(scene: Scene, count: int) -> None:
    """``data/big.bin``: one 1 MiB chunk of zeros repeated ``count`` times (a few KB)."""
    with scene.forger() as repo, Forger(repo) as forger:
        chunk = forger.blob(bytes(MIB))
        listing = forger.chunk_list(chunk, MIB, count)
        entries = [(b"a.txt", MODE_FILE, 6, forger.blob(b"alpha\n"))]
        commit = data_commit(
            scene, forger, [*entries, (b"big.bin", MODE_FILE, count * MIB, listing)]
        )
    scene.publish(commit)


def many_files(scene: Scene, per_dir: int, dirs: int) -> None:
    """``data/dNNN/fNNN``: one subtree of ``per_dir`` files repeated ``dirs`` times."""
    with scene.forger() as repo, Forger(repo) as forger:
        blob = forger.blob(b"x")
        sub, size = forger.tree([(b"f%04d" % i, MODE_FILE, 1, blob) for i in range(per_dir)])
        entries = [(b"d%04d" % i, MODE_DIR, size, sub) for i in range(dirs)]
        alpha = (b"a.txt", MODE_FILE, 6, forger.blob(b"alpha\n"))
        commit = data_commit(scene, forger, [alpha, *entries])
    scene.publish(commit)


def set_caps(scene: Scene, **caps: str | int) -> None:
    """Caps in the project's config (committed with it: it may only lower them)."""
    lines = "".join(
        f"{k} = {v!r}\n".replace("'", '"') if isinstance(v, str) else f"{k} = {v}\n"
        for k, v in caps.items()
    )
    with open(scene.victim.root / ".dvault" / "config", "a") as f:
        f.write(f"\n[checkout]\n{lines}")


def test_a_repeated_chunk_bomb_is_refused_by_the_cap(scene: Scene, tmp_path: Path) -> None:
    """256 refs to one 1 MiB chunk: a 256 MiB file from a few KB of packs. With
    ``checkout.max-bytes = "64MiB"`` the pull stops before writing; so does a clone with
    the cap in its environment (a clone has no project config yet)."""
    big_file(scene, 256)
    packs = sum(p.stat().st_size for p in (scene.remote / "packs").glob("*.pack"))
    assert packs < 64 * 1024  # the whole remote, bomb included
    set_caps(scene, **{"max-bytes": "64MiB"})
    before = tree_paths(scene.victim.root)
    result = scene.victim.run("pull")
    assert result.code == 2, result.describe()
    line = one_error_line(result)
    assert "256.0 MiB" in line and "checkout.max-bytes (64.0 MiB)" in line
    assert tree_paths(scene.victim.root) == before
    dest = tmp_path / "clone"
    result = scene.victim.run(
        "clone", str(scene.remote), str(dest), env={"DVAULT_CHECKOUT_MAX_BYTES": "64MiB"}
    )
    assert result.code == 2, result.describe()
    assert "checkout.max-bytes" in one_error_line(result)
    assert not dest.exists()


def test_a_committed_config_cannot_raise_the_cap(scene: Scene) -> None:
    """The project's config may lower the cap, never raise it above the user's."""
    big_file(scene, 80)
    set_caps(scene, **{"max-bytes": "1TiB"})
    result = scene.victim.run("pull")
    assert result.code == 0, result.describe()
    scene.victim.ok("checkout", "HEAD~1")
    result = scene.victim.run("checkout", "main", env={"DVAULT_CHECKOUT_MAX_BYTES": "64MiB"})
    assert result.code == 2 and "64.0 MiB" in one_error_line(result)


def test_a_repeated_subtree_bomb_is_refused_by_the_cap(scene: Scene) -> None:
    """100 directories naming one subtree of 100 files: 10,000 files from a few KB."""
    many_files(scene, 100, 100)
    set_caps(scene, **{"max-files": 5000})
    before = tree_paths(scene.victim.root)
    result = scene.victim.run("pull")
    assert result.code == 2, result.describe()
    assert "10,00" in one_error_line(result) and "checkout.max-files (5,000)" in result.err
    assert tree_paths(scene.victim.root) == before


def run_limited(args: list[str], cwd: Path, env: dict[str, str], data_limit: int) -> Result:
    """``dvault ARGS`` with at most ``data_limit`` bytes of heap (RLIMIT_DATA: private
    writable memory; LMDB's shared file mapping does not count)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))

    proc = subprocess.run(
        [*dvault_command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        preexec_fn=limit,
        timeout=300,
        check=False,
    )
    return Result(args, proc.returncode, proc.stdout, proc.stderr.decode(errors="replace"))


def test_a_chunk_list_bomb_is_streamed_not_decoded(scene: Scene, tmp_path: Path) -> None:
    """Four million refs to one chunk: 144 MB of chunk list that compresses to a few
    hundred KB. Decoded whole it is ~1 GB of Python tuples; streamed it is nothing. The
    clone runs with 768 MiB of heap: it must end in one line (the 3.8 TiB the list
    describes is over the cap), not in a MemoryError."""
    count = 4_000_000
    big_file(scene, count)
    packs = sum(p.stat().st_size for p in (scene.remote / "packs").glob("*.pack"))
    assert packs < 2 * MIB
    dest = tmp_path / "clone"
    result = run_limited(
        ["clone", str(scene.remote), str(dest)], tmp_path, scene.victim.env, 768 * MIB
    )
    assert result.code == 2, result.describe()
    assert "3.8 TiB" in one_error_line(result)
    assert not dest.exists()


def deep_tree(scene: Scene, depth: int) -> None:
    """``data/d/d/.../d/leaf``: ``depth`` nested trees, a few KB in all."""
    with scene.forger() as repo, Forger(repo) as forger:
        tree, size = forger.tree([(b"leaf", MODE_FILE, 1, forger.blob(b"x"))])
        for _ in range(depth):
            tree, size = forger.tree([(b"d", MODE_DIR, size, tree)])
        entries = [(b"a.txt", MODE_FILE, 6, forger.blob(b"alpha\n")), (b"d", MODE_DIR, size, tree)]
        commit = data_commit(scene, forger, entries)
    scene.publish(commit)


def test_a_deep_tree_is_corruption_in_one_line_and_leaves_nothing(
    scene: Scene, tmp_path: Path
) -> None:
    deep_tree(scene, 1500)
    dest = tmp_path / "clone"
    result = scene.victim.run("clone", str(scene.remote), str(dest))
    assert result.code == 3, result.describe()
    assert "deeper than 1024 levels" in one_error_line(result)
    assert not dest.exists()
    before = tree_paths(scene.victim.root)
    result = scene.victim.run("pull")
    assert result.code == 3, result.describe()
    assert "deeper than 1024 levels" in one_error_line(result)
    assert tree_paths(scene.victim.root) == before
    assert os.listdir(tmp_path) == ["s"]
