"""repair, gc and verify --sample (dvault/maintenance/, dvault/verify.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dvault.errors import CorruptObject
from dvault.hashing import ObjectId
from dvault.maintenance.gc import collect, parse_duration
from dvault.maintenance.repair import repair
from dvault.remote.push import push
from dvault.remote.session import pick_remote
from dvault.repo import Repo
from dvault.verify import verify_local


def _project(tmp_path: Path) -> Repo:
    repo = Repo.init(tmp_path / "p")
    data = repo.root / "data"
    data.mkdir()
    for i in range(30):
        (data / f"f{i:02}.bin").write_bytes(os.urandom(2000 + i))
    repo.add([data])
    repo.commit("v1")
    return repo


def _age_packs(repo: Repo) -> None:
    old = time.time() - 7200
    for pack in (repo.dir / "packs").glob("*.pack"):
        os.utime(pack, (old, old))


def _flip(path: Path, offset: int) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _data_pack(repo: Repo) -> Path:
    return max((repo.dir / "packs").glob("*.pack"), key=lambda p: p.stat().st_size)


def test_repair_refetches_a_damaged_object_from_a_remote(tmp_path: Path) -> None:
    """A flipped byte in a pack is detected, and repair restores the object from a remote."""
    with _project(tmp_path) as repo:
        repo.add_remote("nas", str(tmp_path / "nas"), init=True)
        push(repo, pick_remote(repo, "nas"), ["main"])
        _flip(_data_pack(repo), 200)
        assert not verify_local(repo, None, read_data=True).ok
        report = repair(repo)
        assert report.ok and report.objects_refetched >= 1
        assert verify_local(repo, None, read_data=True).ok


def test_repair_salvages_a_pack_with_a_damaged_footer(tmp_path: Path) -> None:
    """Records of a pack whose footer is destroyed are salvaged; the pack is kept aside."""
    with _project(tmp_path) as repo:
        pack = _data_pack(repo)
        size = pack.stat().st_size
        _flip(pack, size - 20)  # inside the trailer's checksum
    with Repo.open(tmp_path / "p") as repo:
        report = repair(repo)
        assert report.packs_salvaged == 1 and report.objects_salvaged >= 30
        assert report.ok, report.unrecoverable
        assert (repo.dir / "damaged" / pack.name).exists()
        assert verify_local(repo, None, read_data=True).ok


def test_repair_reports_what_no_remote_has(tmp_path: Path) -> None:
    """Without a remote, a corrupt object is reported as unrecoverable, naming its file."""
    with _project(tmp_path) as repo:
        _flip(_data_pack(repo), 200)
        report = repair(repo)
        assert not report.ok
        assert any("data/f" in line for line in report.unrecoverable)


def test_gc_removes_only_unreachable_objects(tmp_path: Path) -> None:
    """Staged-then-unstaged content is collected; every commit still restores."""
    with _project(tmp_path) as repo:
        junk = repo.root / "data" / "junk.bin"
        junk.write_bytes(os.urandom(50_000))
        repo.add([repo.root / "data"])
        repo.rm([junk], cached=True)
        _age_packs(repo)
        dry = collect(repo, dry_run=True)
        assert dry.removed_objects >= 1
        before = sorted(p.name for p in (repo.dir / "packs").glob("*.pack"))
        assert before == sorted(p.name for p in (repo.dir / "packs").glob("*.pack"))
        report = collect(repo)
        assert report.removed_bytes >= 50_000
        assert verify_local(repo, None, read_data=True).ok
        repo.checkout("main", force=True)


def test_gc_keeps_young_packs(tmp_path: Path) -> None:
    """Packs younger than the grace period are never swept, even if unreferenced."""
    with _project(tmp_path) as repo:
        junk = repo.root / "data" / "junk.bin"
        junk.write_bytes(os.urandom(10_000))
        repo.add([repo.root / "data"])
        repo.rm([junk], cached=True)
        report = collect(repo)
        assert report.removed_objects == 0 and report.packs_kept_young >= 1


def test_gc_and_commit_at_the_same_time(tmp_path: Path) -> None:
    """A commit racing gc is serialised by the writer lock: both finish, nothing is lost."""
    with _project(tmp_path) as repo:
        _age_packs(repo)
        root = repo.root
    (root / "data" / "new.bin").write_bytes(os.urandom(300_000))
    env = {**os.environ, "DVAULT_AUTHOR": "T <t@e>"}
    cmd = [sys.executable, "-m", "dvault"]
    gc_proc = subprocess.Popen([*cmd, "gc"], cwd=root, env=env)
    commit = subprocess.run(
        [*cmd, "commit", "-a", "-m", "v2"], cwd=root, env=env, capture_output=True, text=True
    )
    assert gc_proc.wait(60) == 0
    assert commit.returncode == 0, commit.stderr
    with Repo.open(root) as repo:
        assert [e.commit.message for e in repo.log()] == ["v2", "v1"]
        assert verify_local(repo, None, read_data=True).ok


def test_sample_rotates_over_everything(tmp_path: Path) -> None:
    """Ten runs of --sample 10 re-hash every object exactly once between them."""
    with _project(tmp_path) as repo:
        _flip(_data_pack(repo), 200)
        found = [not verify_local(repo, None, False, sample=10).ok for _ in range(10)]
        assert found.count(True) == 1


def test_durations() -> None:
    """--keep-within understands days, hours, minutes and plain seconds."""
    assert parse_duration("14d") == 14 * 86400
    assert parse_duration("12h") == 43200
    assert parse_duration("90") == 90
    with pytest.raises(Exception, match="invalid duration"):
        parse_duration("soon")


def _second_commit_and_tag(repo: Repo) -> tuple[bytes, bytes]:
    (repo.root / "data" / "f00.bin").write_bytes(b"changed")
    repo.add([repo.root / "data"])
    second = repo.commit("v2")
    tag = repo.tag("v1")
    return second, tag


def test_verify_lists_every_damaged_ref_and_repair_restores_them(tmp_path: Path) -> None:
    """Two garbled refs are both reported (not just the first); repair restores each from
    its reflog, keeps the damaged bytes, and gc refuses to run until then."""
    with _project(tmp_path) as repo:
        second, tag = _second_commit_and_tag(repo)
        (repo.dir / "refs" / "heads" / "main").write_bytes(b"\x00garbage\n")
        tag_file = repo.dir / "refs" / "tags" / "v1"
        tag_file.chmod(0o644)
        tag_file.write_bytes(b"")
        report = verify_local(repo, None, read_data=False)
        assert len([p for p in report.problems if "refs/" in p]) == 2, report.problems
        with pytest.raises(CorruptObject, match="run dvault repair"):
            collect(repo, dry_run=True, keep_within_s=0)
        fixed = repair(repo)
        assert fixed.ok, fixed.unrecoverable
        assert len(fixed.refs_restored) == 2
        assert repo.refs.read("refs/heads/main") == second
        assert repo.refs.read("refs/tags/v1") == tag
        assert (repo.dir / "damaged" / "refs" / "heads" / "main").read_bytes() == b"\x00garbage\n"
        assert verify_local(repo, None, read_data=True).ok


def test_repair_reattaches_a_truncated_head(tmp_path: Path) -> None:
    """An empty HEAD is restored to the branch whose tip HEAD last recorded."""
    with _project(tmp_path) as repo:
        second, _ = _second_commit_and_tag(repo)
        (repo.dir / "HEAD").write_bytes(b"")
        assert not verify_local(repo, None, read_data=False).ok
        fixed = repair(repo)
        assert fixed.ok, fixed.unrecoverable
        assert repo.refs.head() == ("main", second)
        assert verify_local(repo, None, read_data=True).ok


def test_repair_restores_a_ref_whose_id_was_flipped(tmp_path: Path) -> None:
    """A ref naming an id nothing holds, unlike its reflog, is a damaged file: restored
    from the reflog with nothing lost."""
    with _project(tmp_path) as repo:
        second, _ = _second_commit_and_tag(repo)
        path = repo.dir / "refs" / "heads" / "main"
        text = path.read_text()
        path.write_text(("1" if text[0] != "1" else "2") + text[1:])
        assert "not in the store" in " ".join(verify_local(repo, None, False).problems)
        fixed = repair(repo)
        assert fixed.ok, fixed.unrecoverable
        assert repo.refs.read("refs/heads/main") == second


def test_repair_reports_a_lost_tip_commit(tmp_path: Path) -> None:
    """When the commit a branch's reflog last recorded is gone everywhere, the branch moves
    back to its newest complete commit and the loss is reported (exit 1 in the CLI)."""
    with _project(tmp_path) as repo:
        first = repo.resolve("main")
        lost = ObjectId(bytes.fromhex("ab" * 32))
        repo.refs.update("refs/heads/main", lost, "commit: lost to a disk error")
        fixed = repair(repo)
        assert not fixed.ok
        assert any("ab" * 32 in line and "lost" in line for line in fixed.unrecoverable)
        assert repo.refs.read("refs/heads/main") == first


def test_verify_names_every_file_commit_and_ref_a_damaged_object_affects(
    tmp_path: Path,
) -> None:
    """One damaged blob used by two files in two commits on two refs: the finding names
    them all (object -> files -> commits -> refs)."""
    with _project(tmp_path) as repo:
        shared = (repo.root / "data" / "f05.bin").read_bytes()
        (repo.root / "data" / "copy.bin").write_bytes(shared)
        repo.add([repo.root / "data"])
        second = repo.commit("v2")
        first = repo.resolve("main~1")
        repo.branch("old", first.hex())
        (repo.root / "data" / "f05.bin").unlink()
        repo.add([repo.root / "data"])
        repo.commit("v3 drops f05")
        blob = repo.store.index.lookup(ObjectId(_blob_id(repo, first, "data/f05.bin")))
        assert blob is not None
        pack_path = repo.dir / "packs" / f"{repo.store.index.pack_name(blob[0])}.pack"
        _flip(pack_path, blob[1].offset + blob[1].stored_len - 1)
        problems = verify_local(repo, None, read_data=True).problems
        line = next(p for p in problems if p.startswith("damaged object"))
        assert "data/f05.bin" in line and "data/copy.bin" in line, line
        assert first.hex()[:12] in line and second.hex()[:12] in line, line
        assert "branch main" in line and "branch old" in line, line


def _blob_id(repo: Repo, commit: bytes, path: str) -> bytes:
    from dvault.trees import lookup

    found = lookup(repo.store, repo.read_commit(commit).tree, path.encode())
    assert found is not None
    return found.id
