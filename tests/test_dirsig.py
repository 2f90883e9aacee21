"""Directory signatures: a directory whose listing still hashes to the signature recorded
when it was last found clean is skipped by status. These tests pin down every way a
signature must stop vouching for a directory; each would report a stale "clean" if the
corresponding invalidation were missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dvault.repo import Repo
from dvault.store.state import RACY_NS
from dvault.workspace.scan import scan_workspace

PAST_NS = 10_000_000_000


def write(path: Path, data: bytes, settled: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if settled:  # not "racy": a file just written is re-checked on purpose
        st = os.lstat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - PAST_NS))
    return path


def signatures(repo: Repo) -> dict[bytes, bytes]:
    with repo.state.env.begin(db=repo.state.signature_db) as txn:
        return {bytes(k): bytes(v) for k, v in txn.cursor()}


@pytest.fixture
def signed(repo: Repo) -> Repo:
    """data/a, data/b, data/sub/c committed; one status has recorded the signatures."""
    for rel in ("data/a", "data/b", "data/sub/c"):
        write(repo.root / rel, rel.encode())
    repo.add([repo.root / "data"])
    repo.commit("first")
    assert repo.status().clean
    assert set(signatures(repo)) == {b"data/", b"data/sub/"}
    return repo


def test_clean_status_records_and_then_uses_signatures(signed: Repo) -> None:
    before = signatures(signed)
    assert signed.status().clean
    assert signatures(signed) == before


def test_same_size_same_mtime_edit_is_still_seen(signed: Repo) -> None:
    """An in-place edit that keeps size and mtime still changes ctime: the signature no
    longer matches and the file is reported modified."""
    path = signed.root / "data/a"
    st = os.lstat(path)
    path.write_bytes(b"DATA/A")  # same length as b"data/a"
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert signed.status().modified == [b"data/a"]


@pytest.mark.parametrize("change", ["create", "delete", "rename", "chmod", "replace"])
def test_listing_changes_are_seen(signed: Repo, change: str) -> None:
    root = signed.root
    if change == "create":
        write(root / "data/sub/new", b"new")
        assert signed.status().untracked == [b"data/sub/new"]
    elif change == "delete":
        (root / "data/sub/c").unlink()
        assert signed.status().deleted == [b"data/sub/c"]
    elif change == "rename":
        os.rename(root / "data/b", root / "data/b2")
        status = signed.status()
        assert (status.deleted, status.untracked) == ([b"data/b"], [b"data/b2"])
    elif change == "chmod":
        (root / "data/a").chmod(0o755)
        assert signed.status().modified == [b"data/a"]
    else:  # a new file renamed over a tracked one: new inode, new ctime
        write(root / "data/tmp", b"data/a")
        os.rename(root / "data/tmp", root / "data/a")
        assert signed.status().clean  # same content: re-hashed, found equal
        staged = signed.state.stage_get(b"data/a")
        assert staged is not None and staged.ino == os.lstat(root / "data/a").st_ino


def test_a_stage_change_forgets_the_signatures_above_it(signed: Repo) -> None:
    """Unstaging a file changes nothing on disk, so only the stage write's invalidation
    can make status notice: the file must show as untracked again."""
    signed.state.update_stage(delete=[b"data/sub/c"])
    assert signatures(signed) == {}  # data/sub/ and data/ both forgotten
    assert signed.status().untracked == [b"data/sub/c"]


def test_signatures_written_after_a_concurrent_stage_change_are_dropped(signed: Repo) -> None:
    """A scan's signatures are recorded only if the stage is still the one it read."""
    state = signed.state
    with state.env.begin() as txn:
        generation = state.stage_generation(txn)
    state.update_stage(delete=[b"data/b"])  # another process, between scan and record
    state.record_signatures({b"data": b"\0" * 20}, generation)
    assert b"data/" not in signatures(signed)
    with state.env.begin() as txn:
        state.record_signatures({b"data": b"\0" * 20}, state.stage_generation(txn))
    assert b"data/" in signatures(signed)


def test_changed_ignore_rules_invalidate_signatures(signed: Repo) -> None:
    root = signed.root
    (root / ".dvaultignore").write_text("*.tmp\n")
    write(root / "data/scratch.tmp", b"x")
    status = signed.status()
    assert status.clean
    (root / ".dvaultignore").write_text("")
    assert signed.status().untracked == [b"data/scratch.tmp"]


def test_racy_entries_are_not_vouched_for(signed: Repo) -> None:
    """An entry recorded within RACY_NS of its file's mtime could hide a change that stat
    cannot see: its directory gets no signature until the entry is re-checked."""
    entry = signed.state.stage_get(b"data/b")
    assert entry is not None
    racy = entry._replace(cached_at=entry.mtime_ns + RACY_NS // 2)
    signed.state.update_stage(put=[(b"data/b", racy)])
    assert signed.status().clean  # re-hashed: same content
    assert b"data/" not in signatures(signed)
    assert signed.status().clean  # the refreshed entry is no longer racy
    assert b"data/" in signatures(signed)


def test_worker_processes_record_and_use_signatures(repo: Repo) -> None:
    """The parallel scan (forced on a small tree) finds the same changes and records the
    signatures its workers computed."""
    for unit in range(6):
        for n in range(5):
            write(repo.root / f"data/u{unit}/f{n}", f"{unit}-{n}".encode())
    repo.add([repo.root / "data"])
    repo.commit("first")

    def scan() -> tuple[list[bytes], list[bytes], list[bytes], int]:
        found = scan_workspace(repo.root, [b"data"], None, repo.state, 2, parallel_min=1)
        return [p for p, _ in found.suspects], [p for p, _ in found.untracked], *found[2:]

    assert scan() == ([], [], [], 30)
    assert {b"data/"} | {f"data/u{u}/".encode() for u in range(6)} == set(signatures(repo))
    assert scan() == ([], [], [], 30)  # now from signatures: same count
    write(repo.root / "data/u3/f1", b"changed!")
    (repo.root / "data/u5/f0").unlink()
    write(repo.root / "data/u0/new", b"new")
    assert scan() == ([b"data/u3/f1"], [b"data/u0/new"], [b"data/u5/f0"], 30)


def test_a_large_add_signs_the_directories_it_staged(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An add that changes more paths than SIGNATURE_DROP_ALL forgets every signature, then
    re-signs the workspace, so the first status after it does not compare every file."""
    import dvault.store.state as state_mod

    monkeypatch.setattr(state_mod, "SIGNATURE_DROP_ALL", 3)
    for n in range(5):
        write(repo.root / f"data/f{n}", b"%d" % n)
        write(repo.root / f"data/x/g{n}", b"%d" % n)
    repo.add([repo.root / "data"])
    assert set(signatures(repo)) == {b"data/", b"data/x/"}
    repo.commit("first")
    assert repo.status().clean
    write(repo.root / "data/x/g1", b"changed")
    assert repo.status().modified == [b"data/x/g1"]


def test_an_add_signs_from_its_own_scan_only_what_status_would_find_clean(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large add records the signatures its own scan computed (no second walk): for a
    directory whose files are all staged with the stat they were found with, not for one
    holding a file written just now (racy: status must re-check it). The count recorded
    is the number of staged files, so a scan through the signatures counts them all."""
    import dvault.store.state as state_mod

    monkeypatch.setattr(state_mod, "SIGNATURE_DROP_ALL", 3)
    for n in range(4):
        write(repo.root / f"data/settled/f{n}", b"s%d" % n)
        write(repo.root / f"data/fresh/f{n}", b"f%d" % n, settled=False)
    write(repo.root / "data/top", b"top")
    repo.add([repo.root / "data"])
    assert set(signatures(repo)) == {b"data/", b"data/settled/"}
    found = scan_workspace(repo.root, [b"data"], None, repo.state, 1)
    suspects = sorted(path for path, _ in found.suspects)  # the racy ones, compared again
    assert (suspects, found.untracked, found.deleted) == (
        [b"data/fresh/f%d" % n for n in range(4)],
        [],
        [],
    )
    assert found.compared == 9
    repo.commit("first")
    write(repo.root / "data/settled/f2", b"changed")
    assert repo.status().modified == [b"data/settled/f2"]


def test_a_large_add_of_one_root_signs_the_others_again(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An add that forgets every signature but walks one root only compares the other
    roots once more, so their directories are signed again too."""
    import dvault.store.state as state_mod

    for n in range(3):
        write(repo.root / f"data/f{n}", b"d%d" % n)
        write(repo.root / f"models/m{n}", b"m%d" % n)
    repo.add([repo.root / "data", repo.root / "models"])
    repo.commit("first")
    assert repo.status().clean
    assert set(signatures(repo)) == {b"data/", b"models/"}
    monkeypatch.setattr(state_mod, "SIGNATURE_DROP_ALL", 2)
    for n in range(3):
        write(repo.root / f"data/f{n}", b"changed %d" % n)
    repo.add([repo.root / "data"])
    assert set(signatures(repo)) == {b"data/", b"models/"}
    assert repo.status().clean is False  # staged, not committed
    assert repo.status().modified == []
