"""Push, clone, fetch and pull round trips, on a directory remote and on S3."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from dvault.remote.backend import AlreadyExists
from dvault.remote.registry import open_backend
from dvault.store.pack import read_footer
from tests.cli.helpers import Project, dvault_command

from .conftest import (
    AWS_ENV,
    RemoteTarget,
    clone,
    commit_file,
    local_packs,
    refs_of,
    tree_digests,
)


def test_push_then_clone_restores_every_byte(
    ml: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """A clone of a pushed project has every file byte for byte, its branches and its tags."""
    v1 = ml.head()
    ml.ok("branch", "experiment")
    ml.ok("checkout", "experiment")
    experiment = commit_file(ml, "notes/idea.txt", "try a bigger model\n", "experiment")
    ml.ok("checkout", "main")
    ml.ok("push", "origin", "main", "experiment", "v1")
    copy = clone(remote, tmp_path / "copy")
    assert tree_digests(copy.root) == tree_digests(ml.root)
    branches, tags = refs_of(copy)
    assert branches == {"main": v1}
    assert tags == refs_of(ml)[1] == {"v1": v1}
    assert copy.log("origin/experiment", "-n", "1")[0]["id"] == experiment
    assert copy.status()["clean"]

    before = remote.keys()
    stamps = {key: remote.stamp(key) for key in before}
    again = ml.ok("push", "origin", "main", "experiment", "v1")
    assert "up to date" in again.out
    assert remote.keys() == before
    assert {key: remote.stamp(key) for key in before} == stamps


def test_incremental_push_sends_only_new_packs(ml: Project, remote: RemoteTarget) -> None:
    """A second push uploads only the packs made since, and leaves the first ones untouched."""
    ml.ok("push", "origin", "main", "v1")
    v1_packs = remote.packs()
    v1_stamps = {key: remote.stamp(key) for key in v1_packs}
    ml.write("data/images/img99.bin", os.urandom(120_000))
    ml.write("data/labels/train.csv", "file,label\nimg99.bin,3\n")
    ml.ok("add", "data")
    ml.ok("commit", "-m", "v2 dataset")
    made = {f"packs/{name}" for name in local_packs(ml.root)} - set(v1_packs)

    result = ml.ok("push")
    after = remote.packs()
    sent = set(after) - set(v1_packs)
    assert sent, result.describe()
    assert sent <= made  # only packs made since v1
    assert f"sent {len(sent)} pack(s)" in result.out
    assert sum(after[key] for key in sent) < sum(v1_packs.values()) / 4
    assert {key: after[key] for key in v1_packs} == v1_packs
    assert {key: remote.stamp(key) for key in v1_packs} == v1_stamps


def test_backend_refuses_to_replace_existing_names(
    ml: Project, remote: RemoteTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """create and upload on a taken name raise AlreadyExists and leave the old bytes alone."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    ml.ok("push", "origin", "main", "v1")
    backend = open_backend(remote.spec())
    for key in [remote.log_keys()[-1], "dvault-remote.json"]:
        original, stamp = remote.read(key), remote.stamp(key)
        with pytest.raises(AlreadyExists):
            backend.create(key, b'{"forged": true}')
        assert remote.read(key) == original
        assert remote.stamp(key) == stamp

    pack = max(remote.packs(), key=lambda k: remote.packs()[k])
    original, stamp = remote.read(pack), remote.stamp(pack)
    forged = tmp_path / "forged.pack"
    forged.write_bytes(os.urandom(len(original)))
    with pytest.raises(AlreadyExists):
        backend.upload(pack, forged)
    assert remote.read(pack) == original
    assert remote.stamp(pack) == stamp

    backend.create("notes/new.txt", b"fresh")  # a free name is still writable
    assert remote.read("notes/new.txt") == b"fresh"


def _kill_when_first_pack_lands(proj: Project, remote: RemoteTarget, known: set[str]) -> None:
    """Start ``dvault push`` and kill -9 it as soon as one new pack is on the remote."""
    proc = subprocess.Popen(
        [*dvault_command(), "push"],
        cwd=proj.root,
        env=remote.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        deadline = time.monotonic() + 60
        while not set(remote.packs()) - known:
            assert proc.poll() is None, f"push ended early: {proc.stderr.read()!r}"
            assert time.monotonic() < deadline, "no pack reached the remote"
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "push finished before it could be interrupted"


def test_push_resumes_after_kill(ml: Project, remote: RemoteTarget, tmp_path: Path) -> None:
    """A push killed mid-way moves no ref; the rerun sends the rest, not what had landed."""
    ml.ok("push", "origin", "main", "v1")
    v1_packs = set(remote.packs())
    log_before = {key: remote.read(key) for key in remote.log_keys()}
    for part in range(4):  # one pack per add; big enough that uploading takes a while
        commit_file(ml, f"data/raw/part{part}.bin", os.urandom(8 << 20), f"raw part {part}")
    data_packs = {f"packs/{name}" for name, size in local_packs(ml.root).items() if size > 8e6}
    assert len(data_packs) == 4

    _kill_when_first_pack_lands(ml, remote, v1_packs)
    landed = set(remote.packs()) - v1_packs
    stamps = {key: remote.stamp(key) for key in landed}
    assert landed
    assert not data_packs <= landed, "the killed push had already sent all the data"
    assert {key: remote.read(key) for key in remote.log_keys()} == log_before

    result = ml.ok("push")
    assert "refs/heads/main" in result.out
    sent = set(remote.packs()) - v1_packs - landed
    assert data_packs <= landed | sent, (
        "the resumed push published main without uploading the data packs the killed push "
        f"had not sent:\n{result.out}"
    )
    assert f"sent {len(sent)} pack(s)" in result.out
    assert {key: remote.stamp(key) for key in landed} == stamps
    assert len(remote.log_keys()) == len(log_before) + 1

    copy = clone(remote, tmp_path / "copy")
    assert tree_digests(copy.root) == tree_digests(ml.root)
    copy.ok("verify", "--remote", "origin", "--read-data")


def test_push_does_not_trust_a_pack_no_ref_reaches(
    ml: Project, remote: RemoteTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit's pack left alone on the remote (an interrupted push, deterministically)
    does not stop the next push from sending the data that commit needs."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    ml.ok("push", "origin", "main", "v1")
    head = bytes.fromhex(commit_file(ml, "data/images/img77.bin", os.urandom(200_000), "v2"))
    packs = ml.root / ".dvault" / "packs"
    orphan = next(p for p in packs.glob("*.pack") if any(e.id == head for e in read_footer(p)))
    open_backend(remote.spec()).upload(f"packs/{orphan.name}", orphan)  # and then "killed"

    ml.ok("push")
    copy = clone(remote, tmp_path / "copy")
    assert tree_digests(copy.root) == tree_digests(ml.root)
    ml.ok("verify", "--remote", "origin")


def test_partial_clone_reads_only_the_scoped_paths(
    ml: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """clone --rev v1 -- data/labels brings only the labels' data, by range reads."""
    ml.ok("push", "origin", "main", "v1")
    labels = clone(remote, tmp_path / "labels", "--rev", "v1", paths=["data/labels"])

    expected = {k: v for k, v in tree_digests(ml.root).items() if k.startswith("data/labels/")}
    assert len(expected) == 3
    assert tree_digests(labels.root) == expected
    assert not (labels.root / "data" / "images").exists()
    assert not (labels.root / "models").exists()

    remote_packs = remote.packs()
    local = local_packs(labels.root)
    assert sum(local.values()) < 0.2 * sum(remote_packs.values())
    # no big pack was downloaded whole: the labels came by range reads
    big = {key.removeprefix("packs/") for key, size in remote_packs.items() if size > 100_000}
    assert big
    assert not big & set(local)

    labels.ok("status", "--exit-code")
    log = labels.ok("log", "--oneline")
    assert "v1 dataset" in log.out

    # what only the remote holds is not damage: verify passes and says so, gc keeps the
    # clone whole, and damage to what the clone does hold is still found
    checked = labels.ok("verify", "--read-data")
    assert "partial clone" in checked.out and "only on remotes" in checked.out
    labels.ok("gc", "--keep-within", "0s")
    labels.ok("verify", "--read-data")
    assert tree_digests(labels.root) == expected
    for pack in (labels.root / ".dvault" / "packs").glob("*.pack"):
        pack.chmod(0o644)
        pack.write_bytes(pack.read_bytes()[:-1])
    assert labels.run("verify").code == 1


def test_pull_fast_forwards_and_fetch_brings_tags(
    ml: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """pull fast-forwards a stale clone; fetch creates new tags and origin/main resolves."""
    ml.ok("push", "origin", "main", "v1")
    alice = clone(remote, tmp_path / "alice")
    bob = clone(remote, tmp_path / "bob")
    bob_v1 = tree_digests(bob.root)

    alice.write("data/labels/train.csv", "file,label\nimg00.bin,9\n")
    alice.write("data/images/img42.bin", os.urandom(80_000))
    alice.ok("add", "data")
    v2 = alice.commit("v2 labels")
    alice.ok("tag", "v2", "-m", "relabelled")
    alice.ok("push", "origin", "main", "v2")

    assert tree_digests(bob.root) == bob_v1
    bob.ok("pull")
    assert bob.head() == v2
    assert tree_digests(bob.root) == tree_digests(alice.root)
    bob.ok("status", "--exit-code")

    bob.ok("fetch")
    _, tags = refs_of(bob)
    assert tags["v2"] == v2
    log = bob.ok("log", "origin/main", "--oneline")
    assert log.out.splitlines()[0].startswith(v2[:12])
    assert "v2 labels" in log.out


def test_push_of_a_file_missing_locally_names_it(tmp_path: Path) -> None:
    """A push whose commit needs a file the local store lost is refused before anything
    is uploaded, naming the file (push looks files up in key order after the walk, and
    falls back to the walk that names them when one is missing)."""
    from dvault.errors import MissingObject
    from dvault.repo import Repo

    repo = Repo.init(tmp_path / "proj")
    try:
        data = repo.root / "data"
        data.mkdir()
        (data / "a.bin").write_bytes(b"lost " * 100)
        repo.add([data])  # a.bin's blob sealed in a pack of this first add
        entry = repo.state.stage_get(b"data/a.bin")
        assert entry is not None
        lost, _ = repo.store.locate(entry.id)
        (data / "b.bin").write_bytes(os.urandom(3 << 20))  # chunked: a chunk list
        repo.add([data])
        repo.commit("v1")
        held = [e.id for e in read_footer(repo.dir / "packs" / f"{lost}.pack")]
        assert held == [entry.id]  # the files' thread's pack: the trees are elsewhere
        repo.store.index.remove_pack(lost)
        (repo.dir / "packs" / f"{lost}.pack").unlink()
        repo.add_remote("nas", str(tmp_path / "nas"), init=True)
        with pytest.raises(MissingObject, match=r"file data/a\.bin\) is missing locally"):
            repo.push("nas")
        assert not list((tmp_path / "nas").rglob("*.pack"))
    finally:
        repo.close()
