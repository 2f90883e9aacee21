"""Guarantee 4 with a real full disk: a project on a small tmpfs, filled almost full.

A write that does not fit fails with exit 3 and one error line saying "no space left";
nothing partial becomes visible (HEAD does not move, the repository verifies clean, every
earlier commit restores), and once space is freed the same commit succeeds.
Needs root (or CAP_SYS_ADMIN) to mount the tmpfs; skipped with a message otherwise.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import PROPERTY, Project, Result, kill_in, manifest, manifest_diff

# typer, imported on the first in-process run, still uses a click API click deprecates
pytestmark = pytest.mark.filterwarnings(
    r"ignore:'click\.utils\.get_\w+_stream' is deprecated:DeprecationWarning"
)

KIB = 1 << 10
MIB = 1 << 20
DISK_SIZE = "64m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh 64 MiB tmpfs, unmounted afterwards whatever happens."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    try:
        mounted = subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                f"size={DISK_SIZE},mode=0755",
                "tmpfs",
                str(mount_point),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        pytest.skip(f"full-disk test needs to mount a tmpfs: cannot run mount ({exc})")
    if mounted.returncode != 0:
        pytest.skip(
            "full-disk test needs to mount a tmpfs (root or CAP_SYS_ADMIN): "
            + (mounted.stderr.strip() or f"mount exited {mounted.returncode}")
        )
    try:
        yield mount_point
    finally:
        done = subprocess.run(["umount", str(mount_point)], capture_output=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(disk: Path, leave: int) -> Path:
    """Write a filler file so that about ``leave`` bytes stay free (tmpfs: page exact)."""
    filler = disk / f"filler-{len(list(disk.glob('filler-*')))}"
    todo = max(0, free_bytes(disk) - leave)
    block = bytes(MIB)
    with open(filler, "wb") as f:
        try:
            while todo > 0:
                todo -= f.write(block[: min(todo, MIB)])
            f.flush()
        except OSError:
            pass  # already fuller than asked
    return filler


def unfill(disk: Path) -> None:
    for filler in disk.glob("filler-*"):
        filler.unlink()


def one_error_line(result: Result) -> str:
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.err, result.describe()
    return lines[0]


def stage_of(error: str) -> str:
    """Which write a "no space left" error line names (pack, database, ref, ...)."""
    if "repository database" in error:
        return "database"
    found = re.search(r"cannot (\w+) (\S+)", error)
    if found is None:
        return "?"
    verb, path = found.groups()
    for part, name in (("/refs/", "ref"), ("/logs/", "reflog"), ("pack", "pack")):
        if part in path:
            return f"{name} {verb}"
    return verb


def head_id(project: Project) -> str:
    return str(json.loads(project.ok("log", "--json", "-n", "1").out)[0]["id"])


def assert_healthy(project: Project, commits: list[tuple[str, dict[str, str]]]) -> None:
    """Verifies clean, status works, and every commit restores byte for byte (then the
    branch is checked out again)."""
    project.ok("verify", "--read-data")
    status = project.run("status")
    assert status.code in (0, 1), status.describe()
    for rev, files in [*commits, ("main", commits[-1][1])]:
        project.ok("checkout", "--force", rev)
        project.ok("reset", "--hard", "HEAD")  # --force carries edits it does not overwrite
        diff = manifest_diff(files, manifest(project.root))
        assert not diff, f"{rev} does not restore: {diff}"


@pytest.fixture
def disk_project(small_disk: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project on the small disk: 40 small files and a 1 MiB file, committed once."""
    project = Project(small_disk / "proj", env)
    project.root.mkdir()
    monkeypatch.chdir(project.root)
    project.ok("init")
    rng = random.Random(5005)
    for i in range(40):
        project.write(f"data/f{i:02d}.txt", rng.randbytes(64) * 16)
    project.write("data/model.bin", rng.randbytes(MIB))
    project.ok("add", "data")
    project.ok("commit", "-m", "base")
    return project


def test_add_and_commit_on_a_full_disk_fail_cleanly(
    disk_project: Project, small_disk: Path, record_property: Any
) -> None:
    """A 4 MiB file that fits in the workspace but not in the store: ``add`` and
    ``commit -a`` fail with exit 3 and one "no space left" line, change nothing, and work
    once the filler is deleted."""
    project = disk_project
    commits = [(head_id(project), manifest(project.root))]
    project.write("data/huge.bin", random.Random(6006).randbytes(4 * MIB))
    fill(small_disk, leave=1 * MIB)
    free = free_bytes(small_disk)

    for args in (["add", "data"], ["commit", "-a", "-m", "huge"]):
        result = project.run(*args)
        assert result.code == 3, result.describe()
        line = one_error_line(result)
        assert "no space left" in line.lower(), result.describe()
        assert head_id(project) == commits[0][0], "a failed command moved HEAD"
        project.ok("verify", "--read-data")
        status = project.run("status")
        assert status.code in (0, 1), status.describe()
    assert not list((project.root / ".dvault" / "tmp").glob("pack-*")), "unsealed pack left"

    unfill(small_disk)
    project.ok("commit", "-a", "-m", "huge")
    commits.append((head_id(project), manifest(project.root)))
    assert_healthy(project, commits)
    line = f"full disk: add and commit -a of 4 MiB refused cleanly with {free // KIB} KiB free"
    record_property(PROPERTY, line)


NEW_FILE = 256 * KIB
STEP = 4 * KIB
"""tmpfs allocates whole pages: stepping the free space by one page walks every write."""


def commit_id(result: Result) -> str:
    found = re.match(r"\[\S+ ([0-9a-f]{12,})\]", result.out)
    assert found, result.describe()
    return found.group(1)


def test_commit_with_the_disk_filling_at_every_stage(
    disk_project: Project, small_disk: Path, record_property: Any
) -> None:
    """``commit -a`` of a 256 KiB file and 100 small ones with the free space stepped up
    one page at a time, from none to enough: the disk fills during the pack write, the
    pack seal, the index and stage databases, the ref, ... Each run either succeeds or
    fails with one "no space left" line and no visible change; the repository verifies
    clean after each run, and restores every commit at the end."""
    project = disk_project
    commits = [(head_id(project), manifest(project.root))]
    rng = random.Random(7007)
    outcomes: list[str] = []
    levels = [0, NEW_FILE // 2, *range(NEW_FILE, NEW_FILE + 64 * STEP, STEP)]
    for n, leave in enumerate(levels):
        for old in (project.root / "data").glob("new-*"):  # keep the workspace small
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        project.write(f"data/new-{n}.bin", rng.randbytes(NEW_FILE))
        for i in range(100):  # index and stage entries: the databases must grow too
            project.write(f"data/new-{n}/f{i:02d}.txt", rng.randbytes(16))
        fill(small_disk, leave=leave)
        result = project.run("commit", "-a", "-m", f"new {n}")
        if result.code == 0:
            outcomes.append("ok")
            commits.append((commit_id(result), manifest(project.root)))
        else:
            assert result.code == 3, result.describe()
            assert "no space left" in one_error_line(result).lower(), result.describe()
            assert commits[-1][0].startswith(head_id(project)[:12]), "a failed commit moved HEAD"
            outcomes.append(f"refused at {stage_of(result.err)}")
        project.ok("verify", "--read-data")
        status = project.run("status")
        assert status.code in (0, 1), status.describe()
        unfill(small_disk)
        if result.code != 0:
            again = project.ok("commit", "-a", "-m", f"new {n}, after freeing space")
            commits.append((commit_id(again), manifest(project.root)))
        if outcomes[-2:] == ["ok", "ok"]:
            break
    assert_healthy(project, commits)
    assert outcomes[-1] == "ok" and len(set(outcomes)) > 2, outcomes
    stages = [f"{o} x{len(list(g))}" for o, g in itertools.groupby(outcomes)]
    line = f"full disk: commit -a at {len(outcomes)} fill levels: {', '.join(stages)}"
    print(line)
    record_property(PROPERTY, line)


def test_read_only_commands_work_on_a_full_disk(disk_project: Project, small_disk: Path) -> None:
    """A full disk must not stop ``status``, ``log`` or ``verify``: they only read.

    Two caches used to be written on the way and turned a full disk into exit 3: the
    status stat/hash cache (with modified files), and the indexing of a pack a crash left
    sealed but unindexed (here: a commit killed right before it indexes its pack).
    """
    project = disk_project
    base = head_id(project)
    for i in range(300):
        project.write(f"data/many/f{i:03d}.txt", f"file {i}\n".encode())
    kill_in(project, "dvault.store.index:ObjectIndex.add_pack", ["commit", "-a", "-m", "killed"])
    for i in range(40):
        project.write(f"data/f{i:02d}.txt", f"modified {i}\n".encode())
    fill(small_disk, leave=0)
    assert free_bytes(small_disk) < 64 * KIB
    status = project.run("status")
    assert status.code == 0 and "modified" in status.out, status.describe()
    assert head_id(project) == base
    project.ok("verify", "--read-data")
    unfill(small_disk)
    project.ok("commit", "-a", "-m", "after freeing space")
    project.ok("verify", "--read-data")
