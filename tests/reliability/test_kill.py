"""Guarantee 1 under fire: ``add``, ``commit -a``, ``checkout``, ``push`` and ``gc`` killed
with SIGKILL at random moments never lose committed data.

Each test measures its command (median of three runs), then runs it again and again as a
child process and kills it: first right before each of its write-boundary system calls
(fsync, rename, replace, link, unlink: see killpoint.py), which hits every narrow crash
window every time, then after a delay drawn uniformly from [0, 1.2 x the duration] (one
in ten right at the start) until 50 runs were killed mid-way. After every kill the
repository is checked through the same command line (run in this process, which saves
the interpreter start-up): ``verify --read-data`` (every reachable object re-hashed),
``status``, the last two commits checked out and compared file by file with what was
committed, and the next command of a user working on must succeed; at the end every
commit ever made is restored. Before each ``gc --keep-within 0s`` run fresh garbage is
made (an abandoned commit, staged-then-unstaged files, some in packs with live objects)
and every pack is dated back beyond the grace period, so every run really deletes and
rewrites packs; after the kill a completed gc must sweep whatever the killed one left.
``DVAULT_KILLS=N`` sets the number of random-time kills per command (default 15; 50 in
the full campaigns, ``DVAULT_SLOW=1``, whose figures docs/reliability.md records),
``DVAULT_KILL_SEED`` the seed. Projects live in RAM unless ``DVAULT_KILL_ON_DISK=1``
(see the ``workdir`` fixture).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from dvault.maintenance.gc import PACK_GRACE_S

from .harness import (
    Campaign,
    Project,
    Result,
    kills_wanted,
    manifest,
    manifest_diff,
    run_and_kill,
    stray_temps,
)

# typer, imported on the first in-process run, still uses a click API click deprecates
pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:'click\.utils\.get_\w+_stream' is deprecated:DeprecationWarning"
    ),
    pytest.mark.slow,  # a smaller sample by default; DVAULT_SLOW=1 runs the full campaigns
]

KIB = 1 << 10
MIB = 1 << 20
SMALL_FILES = 200
BIG_SIZE = 3 * MIB

History = list[tuple[str, dict[str, str]]]
"""Every commit made so far, oldest first: (full id, manifest of the committed files)."""


def small_content(rng: random.Random) -> bytes:
    """0.5-2 KiB of compressible bytes."""
    return rng.randbytes(64) * rng.randint(8, 32)


def populate(project: Project, rng: random.Random, files: int = SMALL_FILES) -> None:
    for i in range(files):
        project.write(f"data/part{i % 4}/f{i:04d}.txt", small_content(rng))
    project.write("data/big.bin", rng.randbytes(BIG_SIZE))


def mutate(
    project: Project, rng: random.Random, tag: str, rewrite: int = 20, big: bool = True
) -> None:
    """A typical data update: ``rewrite`` small files rewritten (~10%), five new, two
    deleted, and (with ``big``) a 256 KiB region of the big file rewritten (a fine-tuned
    checkpoint)."""
    files = sorted((project.root / "data").rglob("*.txt"))
    chosen = rng.sample(files, rewrite + 2)
    for path in chosen[:rewrite]:
        path.write_bytes(small_content(rng))
    for path in chosen[rewrite:]:
        path.unlink()
    for j in range(5):
        project.write(f"data/part{j % 4}/new-{tag}-{j}.txt", small_content(rng))
    if not big:
        return
    path = project.root / "data" / "big.bin"
    content = bytearray(path.read_bytes())
    offset = rng.randrange(0, len(content) - 256 * KIB)
    content[offset : offset + 256 * KIB] = rng.randbytes(256 * KIB)
    path.write_bytes(bytes(content))


def record_commit(project: Project, result: Result, history: History) -> str:
    """Remember the commit a successful ``dvault commit`` printed ("[main 1a2b3c4d5e6f] msg")
    with the manifest of the workspace it took."""
    found = re.match(r"\[\S+ ([0-9a-f]{12,})\]", result.out)
    assert found, result.describe()
    history.append((found.group(1), manifest(project.root)))
    return found.group(1)


def check_repository(project: Project, campaign: Campaign) -> bool:
    """The repository opens and verifies clean: every reachable object re-hashed."""
    ok = campaign.check_ok(project.run("verify", "--read-data"))
    status = project.run("status")
    return campaign.check(status.code in (0, 1), status.describe()) and ok


def commit_more(project: Project, campaign: Campaign, history: History, tag: str) -> bool:
    """The user works on: one more file changed, and ``commit -a`` must succeed."""
    project.write(f"data/part0/touched-{tag}.txt", f"work after {tag}\n".encode())
    result = project.run("commit", "-a", "-m", tag)
    if not campaign.check_ok(result):
        return False
    record_commit(project, result, history)
    return True


def check_restore(project: Project, campaign: Campaign, rev: str, want: dict[str, str]) -> bool:
    result = project.run("checkout", "--force", rev)
    if not campaign.check_ok(result):
        return False
    # --force carries edits the switch does not touch; reset --hard discards them
    if not campaign.check_ok(project.run("reset", "--hard", "HEAD")):
        return False
    diff = manifest_diff(want, manifest(project.root))
    return campaign.check(not diff, f"checkout {rev[:12]} does not restore the commit: {diff}")


def check_restores(project: Project, campaign: Campaign, history: History) -> None:
    """The last two commits restore byte for byte: the last one made before the kill (by
    its id), then the one made after it (the branch, which is checked out again)."""
    oid, files = history[-2]
    check_restore(project, campaign, oid, files)
    check_restore(project, campaign, "main", history[-1][1])


def check_all_commits(project: Project, campaign: Campaign, history: History) -> None:
    """At the end: every commit ever made restores byte for byte."""
    if campaign.losses:
        return
    for oid, files in history:
        if not check_restore(project, campaign, oid, files):
            return
    check_restore(project, campaign, "main", history[-1][1])
    check_repository(project, campaign)


MANY_FILES = 1500
"""Enough changed files (over 1000) for add and checkout to work in worker processes,
which a kill of the command leaves running (they finish or notice on their own)."""


def variant(name: str, seed: int, files: int) -> Campaign:
    """The campaign for ``files`` small files: the full one for the small project, a
    shorter one (a quarter of the kills) for the slower worker-process path."""
    if files <= SMALL_FILES:
        return Campaign(name, seed=seed)
    wanted = max(1, kills_wanted() // 4)
    return Campaign(f"{name} ({files} files)", seed=seed, wanted=wanted, most_boundaries=8)


@pytest.mark.parametrize("files", [SMALL_FILES, MANY_FILES])
def test_kill_add(project: Project, record_property: Any, files: int) -> None:
    """``dvault add`` killed while it stores an update of 200 small files and a 3 MiB
    file (threads), or of 1500 small files, most of them changed (worker processes)."""
    campaign = variant("add", 1001, files)
    rng = random.Random(campaign.seed)
    history: History = []
    rewrite = 20 if files <= SMALL_FILES else 1100
    populate(project, rng, files)
    project.ok("add", "data")
    record_commit(project, project.ok("commit", "-m", "base"), history)

    def measured_add(i: int) -> list[str]:
        mutate(project, rng, f"measure{i}", rewrite)
        return ["add", "data"]

    def commit_it(_result: Result) -> None:
        record_commit(project, project.ok("commit", "-a", "-m", "measured"), history)

    campaign.measure(project, measured_add, commit_it)

    while campaign.more():
        tag = f"k{campaign.runs}"
        mutate(project, rng, tag, rewrite)
        campaign.kill(project, ["add", "data"])
        check_repository(project, campaign)
        if commit_more(project, campaign, history, f"after-{tag}"):
            check_restores(project, campaign, history)
    check_all_commits(project, campaign, history)
    campaign.report(record_property)


def test_kill_commit(project: Project, record_property: Any) -> None:
    """``dvault commit -a`` killed while it stages and commits a data update."""
    campaign = Campaign("commit", seed=2002)
    rng = random.Random(campaign.seed)
    history: History = []
    populate(project, rng)
    project.ok("add", "data")
    record_commit(project, project.ok("commit", "-m", "base"), history)

    def measured_commit(i: int) -> list[str]:
        mutate(project, rng, f"measure{i}")
        return ["commit", "-a", "-m", f"measured {i}"]

    campaign.measure(project, measured_commit, lambda r: record_commit(project, r, history))

    while campaign.more():
        tag = f"k{campaign.runs}"
        mutate(project, rng, tag)
        before = manifest(project.root)
        outcome = campaign.kill(project, ["commit", "-a", "-m", tag])
        if not check_repository(project, campaign):
            break
        head = project.head()
        landed = head is not None and head["message"] == tag
        campaign.check(
            head is not None and (landed or head["id"].startswith(history[-1][0])),
            f"HEAD is neither the last commit nor the new one: {head}",
        )
        campaign.check(landed or outcome.killed, "commit finished but HEAD did not move")
        if landed and head is not None:
            history.append((head["id"], before))  # the commit took exactly the workspace
        if commit_more(project, campaign, history, f"after-{tag}"):
            check_restores(project, campaign, history)
    check_all_commits(project, campaign, history)
    campaign.report(record_property)


@pytest.mark.parametrize("files", [SMALL_FILES, MANY_FILES])
def test_kill_checkout(project: Project, record_property: Any, files: int) -> None:
    """``dvault checkout`` killed while it switches between two very different versions
    (3/4 of the files rewritten, 1/8 deleted, 1/8 new; with 1500 files the writes run in
    worker processes): every file is its old or its new version, and re-running the
    checkout completes."""
    campaign = variant("checkout", 3003, files)
    rng = random.Random(campaign.seed)
    populate(project, rng, files)
    project.ok("add", "data")
    project.ok("commit", "-m", "A")
    project.ok("branch", "a")
    versions = {"a": manifest(project.root)}
    paths = sorted((project.root / "data").rglob("*.txt"))
    rng.shuffle(paths)
    for path in paths[: files * 3 // 4]:
        path.write_bytes(small_content(rng))
    for path in paths[files * 3 // 4 : files * 7 // 8]:
        path.unlink()
    for j in range(files // 8):
        project.write(f"data/part{j % 4}/only-b-{j}.txt", small_content(rng))
    project.write("data/big.bin", rng.randbytes(BIG_SIZE))
    project.ok("commit", "-a", "-m", "B")
    project.ok("branch", "b")
    versions["b"] = manifest(project.root)
    project.ok("checkout", "a")
    campaign.measure(project, lambda i: ["checkout", "b" if i % 2 == 0 else "a"])
    project.ok("checkout", "a")

    current = "a"
    while campaign.more():
        target = "b" if current == "a" else "a"
        campaign.kill(project, ["checkout", target])
        old, new = versions[current], versions[target]
        now = manifest(project.root)
        torn = sorted(p for p, h in now.items() if h not in (old.get(p), new.get(p)))
        campaign.check(not torn, f"files neither old nor new after the kill: {torn[:5]}")
        vanished = sorted(p for p in old.keys() & new.keys() if p not in now)
        campaign.check(not vanished, f"files in both versions gone after the kill: {vanished[:5]}")
        check_repository(project, campaign)
        campaign.check_ok(project.run("checkout", target))
        diff = manifest_diff(new, manifest(project.root))
        campaign.check(not diff, f"re-run checkout {target} left the workspace wrong: {diff}")
        temps = stray_temps(project.root)
        campaign.check(not temps, f"temp files survive a completed checkout: {temps[:5]}")
        status = project.run("status", "--exit-code")
        campaign.check(
            status.code == 0 and f"On branch {target}" in status.out,
            f"workspace not clean on {target} after the re-run: {status.describe()}",
        )
        current = target
    campaign.report(record_property)


def remote_files(remote: Path) -> dict[str, str]:
    """Everything published on a directory remote (not its tmp/) -> sha256."""
    if not remote.exists():
        return {}
    return {p: h for p, h in manifest(remote).items() if not p.startswith("tmp/")}


def test_kill_push(project: Project, workdir: Path, record_property: Any) -> None:
    """``dvault push`` to a directory remote killed while it uploads packs or appends to
    the ref log: the remote never names a commit whose data it lacks, nothing published is
    changed, a re-run completes and a clone restores the exact bytes."""
    campaign = Campaign("push", seed=4004)
    rng = random.Random(campaign.seed)
    history: History = []

    batches: list[str] = []

    def batch(n: str) -> None:
        """A commit adding 31 files (packs of their own) and dropping the files of the
        batch three commits back, so the workspace stays small while history grows."""
        for j in range(30):
            project.write(f"data/batch-{n}/f{j:02d}.txt", small_content(rng))
        project.write(f"data/batch-{n}/blob.bin", rng.randbytes(256 * KIB))
        batches.append(n)
        if len(batches) > 3:
            shutil.rmtree(project.root / "data" / f"batch-{batches[-4]}")
        if not history:
            project.ok("add", "data")
        record_commit(project, project.ok("commit", "-a", "-m", f"batch {n}"), history)

    for n in range(3):
        batch(f"s{n}")

    remotes: list[tuple[str, Path]] = []

    def new_remote() -> None:
        name = f"r{len(remotes)}"
        path = workdir / "remotes" / name
        path.parent.mkdir(exist_ok=True)
        project.ok("remote", "add", "--init", name, str(path))
        remotes.append((name, path))

    new_remote()
    project.ok("push", remotes[-1][0])

    def measured_push(i: int) -> list[str]:
        batch(f"measure{i}")  # a typical push: one new commit
        return ["push", remotes[-1][0]]

    campaign.measure(project, measured_push)

    while campaign.more():
        tag = f"k{campaign.runs}"
        if campaign.runs % 10 == 9:
            new_remote()  # a first push: the whole history, many packs, the marker
        batch(tag)
        name, path = remotes[-1]
        published = remote_files(path)
        campaign.kill(project, ["push", name])
        verify = project.run("verify", "--remote", name, "--read-data")
        untouched = not (path / "refs" / "log").exists() or not any(
            (path / "refs" / "log").iterdir()
        )
        campaign.check(
            verify.code == 0
            or (verify.code == 1 and "holds no dvault data" in verify.err and untouched),
            verify.describe(),
        )
        now = remote_files(path)
        changed = sorted(p for p, h in published.items() if now.get(p) != h)
        campaign.check(not changed, f"published remote files changed or removed: {changed[:5]}")
        if not campaign.check_ok(project.run("push", name)):
            break
        clone = workdir / "clones" / tag
        if campaign.check_ok(project.run("clone", str(path), str(clone))):
            diff = manifest_diff(history[-1][1], manifest(clone))
            campaign.check(not diff, f"clone of {name} differs from the last commit: {diff}")
        shutil.rmtree(clone, ignore_errors=True)

    if not campaign.losses:
        check_repository(project, campaign)
        for name, _path in remotes:
            campaign.check_ok(project.run("verify", "--remote", name, "--read-data"))
    campaign.report(record_property)


GARBAGE_SIZE = 256 * KIB
GC = ["gc", "--keep-within", "0s"]
"""gc with no reflog grace: what only an older reflog entry reaches is garbage at once."""


def age_packs(project: Project) -> None:
    """Date every pack back beyond gc's grace period: all of them may be swept."""
    old = time.time() - 2 * PACK_GRACE_S
    for pack in (project.root / ".dvault" / "packs").glob("*.pack"):
        os.utime(pack, (old, old))


def pack_bytes(project: Project) -> int:
    return sum(p.stat().st_size for p in (project.root / ".dvault" / "packs").glob("*.pack"))


def make_garbage(project: Project, rng: random.Random, tag: str) -> str:
    """Unreachable objects in packs gc deletes whole and in packs it must rewrite, next
    to a data update that only the stage reaches; returns the abandoned commit's id.

    A commit made on a detached HEAD and left (only HEAD's reflog reaches it, which
    ``--keep-within 0s`` does not count); a 256 KiB file staged then unstaged alone (a
    pack of garbage only); a data update staged with another such file, which is
    unstaged again (a pack of live and dead objects; the update is committed after gc).
    Every pack is then dated back."""
    head = project.head()
    assert head is not None
    project.ok("checkout", head["id"])
    project.write(f"data/part1/abandoned-{tag}.txt", small_content(rng))
    abandoned = project.ok("commit", "-a", "-m", f"abandoned {tag}")
    found = re.match(r"\[detached HEAD ([0-9a-f]{12,})\]", abandoned.out)
    assert found, abandoned.describe()
    project.ok("checkout", "main")
    junk = f"data/junk-{tag}.bin"
    for update in (False, True):
        project.write(junk, rng.randbytes(GARBAGE_SIZE))
        if update:
            mutate(project, rng, tag, rewrite=10, big=False)  # history grows slowly
        project.ok("add", "data" if update else junk)
        project.ok("rm", "--cached", junk)
        (project.root / junk).unlink()
    age_packs(project)
    return found.group(1)


def check_collected(project: Project, campaign: Campaign) -> None:
    """After a completed gc, with every pack dated back, nothing is left to sweep (a
    killed gc's leftovers included) and no temporary pack remains in ``.dvault/tmp``."""
    age_packs(project)
    dry = project.run("gc", "--dry-run", "--keep-within", "0s")
    if campaign.check_ok(dry):
        campaign.check("would remove 0 object(s)" in dry.out, f"garbage survives gc: {dry.out}")
    tmp = project.root / ".dvault" / "tmp"
    left = sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []
    campaign.check(not left, f"temporary files survive a completed gc: {left[:5]}")


def test_kill_gc(project: Project, record_property: Any) -> None:
    """``dvault gc --keep-within 0s`` killed while it marks, copies the live objects of
    packs holding garbage into a new pack and deletes the old packs (all of them dated
    back beyond the grace period; fresh garbage before every run, see make_garbage):
    every commit still restores, the staged update commits intact, and a completed gc
    afterwards sweeps everything the killed one left behind."""
    campaign = Campaign("gc", seed=5005)
    rng = random.Random(campaign.seed)
    history: History = []
    populate(project, rng)
    project.ok("add", "data")
    record_commit(project, project.ok("commit", "-m", "base"), history)

    before: list[tuple[str, int]] = []

    def measured_gc(i: int) -> list[str]:
        abandoned = make_garbage(project, rng, f"measure{i}")
        before.append((abandoned, pack_bytes(project)))
        return GC

    def swept(result: Result) -> None:
        """The uninterrupted run really collected: the junk is gone (whole packs deleted,
        others rewritten), so is the abandoned commit, and the rest still verifies."""
        abandoned, size = before[-1]
        found = re.search(
            r"removed (\d+) object.*\((\d+) pack\(s\) affected, (\d+) rewritten", result.out
        )
        assert found, result.describe()
        removed, affected, rewritten = map(int, found.groups())
        assert removed > 0 and affected > rewritten > 0, result.describe()
        assert size - pack_bytes(project) >= 2 * GARBAGE_SIZE, (size, pack_bytes(project))
        gone = project.run("show", abandoned)
        assert gone.code not in (0, 99), f"the abandoned commit survived gc: {gone.describe()}"
        project.ok("verify", "--read-data")
        record_commit(project, project.ok("commit", "-a", "-m", "measured"), history)

    campaign.measure(project, measured_gc, swept)

    while campaign.more():
        tag = f"k{campaign.runs}"
        make_garbage(project, rng, tag)
        campaign.kill(project, GC)
        if not check_repository(project, campaign):
            break
        temps = stray_temps(project.root)
        campaign.check(not temps, f"temp files in the workspace after the kill: {temps[:5]}")
        if not commit_more(project, campaign, history, f"after-{tag}"):
            break
        age_packs(project)
        if campaign.check_ok(project.run(*GC)):
            check_repository(project, campaign)
            check_collected(project, campaign)
        check_restores(project, campaign, history)
    check_all_commits(project, campaign, history)
    campaign.report(record_property)


def diverged_merge(project: Project, rng: random.Random) -> tuple[str, dict[str, str]]:
    """main and branch ``relabel`` both change data since a common commit, with
    conflicts (the big checkpoint, a label file's row, some files both rewrote) and
    clean changes: returns HEAD's id and main's manifest."""
    populate(project, rng, 60)
    rows = "".join(f"{i:03}.png,c{i % 3:02}\n" for i in range(50))
    project.write("data/labels.csv", rows.encode())
    project.ok("add", "data")
    project.ok("commit", "-m", "base")
    project.ok("branch", "relabel")
    project.ok("checkout", "relabel")
    mutate(project, rng, "theirs", rewrite=8)
    labels = project.root / "data/labels.csv"
    labels.write_text(labels.read_text().replace("004.png,c01", "004.png,c08"))
    project.ok("commit", "-a", "-m", "theirs")
    project.ok("checkout", "main")
    mutate(project, rng, "ours", rewrite=8)
    labels.write_text(labels.read_text().replace("004.png,c01", "004.png,c09"))
    project.ok("commit", "-a", "-m", "ours")
    head = project.head()
    assert head is not None
    return head["id"], manifest(project.root)


def test_kill_merge(project: Project, record_property: Any) -> None:
    """``dvault merge`` stopping on conflicts, killed before each of its write-boundary
    calls, then ``merge --continue`` killed the same way: every kill leaves either the
    old state (no merge in progress, HEAD and every file as before) or a merge in
    progress that ``merge --abort`` turns back into exactly the old state; a killed
    ``--continue`` is finished by running it again, with two parents."""
    campaign = Campaign("merge", 3007, wanted=0)  # every kill here is at a write boundary
    rng = random.Random(campaign.seed)
    ours, before = diverged_merge(project, rng)
    state_file = project.root / ".dvault" / "MERGE_STATE"
    boundary = 0
    while not campaign.losses:
        boundary += 1
        outcome = run_and_kill(project, ["merge", "relabel"], 0.0, boundary)
        campaign.current = outcome
        campaign.runs += 1
        if not outcome.killed:
            campaign.finished += 1
            campaign.boundaries = boundary - 1
            campaign.check(outcome.code == 1, f"merge did not stop on conflicts: {outcome.err}")
            break
        campaign.boundary_kills += 1
        if state_file.exists():  # resumable: abort must give the old state back
            campaign.check_ok(project.run("merge", "--abort"))
        head = project.head()
        campaign.check(head is not None and head["id"] == ours, "HEAD moved after the kill")
        diff = manifest_diff(before, manifest(project.root))
        campaign.check(not diff, f"workspace not as before the merge: {diff}")
        status = project.run("status", "--exit-code")
        campaign.check(status.code == 0, f"not clean after the kill: {status.describe()}")
        check_repository(project, campaign)
    campaign.check(boundary > 3, f"merge made only {boundary} write-boundary calls")
    # --continue: resolve every conflict with theirs, then kill the commit at each boundary
    continued = 0
    while not campaign.losses:
        continued += 1
        listing = project.run("status", "--json")
        unmerged = json.loads(listing.out)["unmerged"]
        if unmerged:
            project.ok("checkout", "--theirs", "--", *unmerged)
        outcome = run_and_kill(project, ["merge", "--continue"], 0.0, continued)
        campaign.current = outcome
        campaign.runs += 1
        if outcome.killed:
            campaign.boundary_kills += 1
            if state_file.exists():  # not finished: running it again finishes it
                campaign.check_ok(project.run("merge", "--continue"))
        else:
            campaign.finished += 1
            campaign.check(outcome.code == 0, f"merge --continue failed: {outcome.err}")
        head = project.head()
        campaign.check(
            head is not None and head["parents"][0] == ours and len(head["parents"]) == 2,
            f"--continue did not commit the merge: {head}",
        )
        campaign.check(not state_file.exists(), "MERGE_STATE left after --continue")
        check_repository(project, campaign)
        if not outcome.killed:
            break
        campaign.check_ok(project.run("reset", "--hard", ours))
        campaign.check(project.run("merge", "relabel").code == 1, "merge did not stop again")
    campaign.report(record_property)
