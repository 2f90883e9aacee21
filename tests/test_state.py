"""Workspace state: stage entries, the racy-stat rule and compare-and-set stat refresh."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.store.state import RACY_NS, FileStat, StageEntry, WorkspaceState, now_ns
from dvault.treeobjects import MODE_EXEC, MODE_FILE, VALID_MODES, mode_of

u64 = st.integers(min_value=0, max_value=2**64 - 1)
i64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
stage_entries = st.builds(
    StageEntry,
    mode=st.sampled_from(sorted(VALID_MODES)),
    size=u64,
    id=st.binary(min_size=32, max_size=32).map(ObjectId),
    mtime_ns=i64,
    ctime_ns=i64,
    ino=u64,
    cached_at=i64,
)

MTIME = 1_700_000_000_000_000_000


def replaced(obj: Any, **changes: Any) -> Any:
    """A copy of a stage entry or stat with some fields changed (named tuple or dataclass)."""
    if hasattr(obj, "_replace"):
        return obj._replace(**changes)
    return dataclasses.replace(obj, **changes)


def oid(text: str) -> ObjectId:
    return object_id(ObjectType.BLOB, text.encode())


def fresh_entry(cached_at: int = MTIME + 10 * RACY_NS) -> StageEntry:
    """An entry recorded well after the file was last modified."""
    return StageEntry(MODE_FILE, 10, oid("x"), MTIME, MTIME + 5, 42, cached_at)


def stat_of(entry: StageEntry) -> FileStat:
    """The stat data of a file that still matches ``entry``."""
    return FileStat(entry.mode, entry.size, entry.mtime_ns, entry.ctime_ns, entry.ino)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[WorkspaceState]:
    s = WorkspaceState(tmp_path / "state")
    try:
        yield s
    finally:
        s.close()


@given(stage_entries)
def test_pack_unpack_round_trip(entry: StageEntry) -> None:
    """Stage entries survive the LMDB encoding exactly, for the full range of every field."""
    assert StageEntry.unpack(entry.pack()) == entry


def test_matches_when_stat_unchanged_and_not_racy() -> None:
    """An entry recorded well after the file's mtime is trusted while stat is unchanged."""
    entry = fresh_entry()
    assert entry.matches(stat_of(entry))


@pytest.mark.parametrize("delta", [-RACY_NS, 0, 1, RACY_NS // 2, RACY_NS])
def test_racy_entries_never_match(delta: int) -> None:
    """An entry cached within RACY_NS of the mtime (or before it) is re-hashed: the file may
    have changed again within the timestamp granularity."""
    entry = fresh_entry(cached_at=MTIME + delta)
    assert not entry.matches(stat_of(entry))


def test_just_outside_racy_window_matches() -> None:
    """The racy window is exactly RACY_NS wide."""
    entry = fresh_entry(cached_at=MTIME + RACY_NS + 1)
    assert entry.matches(stat_of(entry))


@pytest.mark.parametrize(
    "field, value",
    [
        ("size", 11),
        ("mtime_ns", MTIME + 1),
        ("mtime_ns", MTIME - 1),
        ("ctime_ns", MTIME + 6),
        ("ino", 43),
        ("mode", MODE_EXEC),
    ],
)
def test_any_stat_difference_means_changed(field: str, value: int) -> None:
    """A change in size, mtime, ctime, inode or mode means the file must be re-read."""
    entry = fresh_entry()
    st_ = replaced(stat_of(entry), **{field: value})
    assert not entry.matches(st_)


def test_entry_without_stat_never_matches() -> None:
    """An entry staged from a commit (no stat data) never vouches for a workspace file."""
    entry = fresh_entry().with_stat(None, now_ns())
    assert (entry.mtime_ns, entry.ino, entry.cached_at) == (0, 0, 0)
    assert not entry.matches(FileStat(MODE_FILE, 10, 0, 0, 0))


def test_real_file_is_racy_then_trusted(tmp_path: Path) -> None:
    """A file hashed right after being written is racy; the same data recorded later is not."""
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    raw = os.stat(path)
    st_ = FileStat.of(raw, mode_of(raw.st_mode))
    base = StageEntry(MODE_FILE, 10, oid("0123456789"))
    assert not base.with_stat(st_, now_ns()).matches(st_)
    assert base.with_stat(st_, raw.st_mtime_ns + 2 * RACY_NS).matches(st_)
    path.write_bytes(b"9876543210")  # same size, rewritten
    os.utime(path, ns=(raw.st_atime_ns, raw.st_mtime_ns + 1))
    raw2 = os.stat(path)
    assert not base.with_stat(st_, raw.st_mtime_ns + 2 * RACY_NS).matches(
        FileStat.of(raw2, mode_of(raw2.st_mode))
    )


def test_same_content() -> None:
    """Content identity is id and mode; stat data is irrelevant."""
    a = fresh_entry()
    assert a.same_content(replaced(a, mtime_ns=0, ino=0, cached_at=0))
    assert not a.same_content(replaced(a, mode=MODE_EXEC))
    assert not a.same_content(replaced(a, id=oid("y")))
    assert not a.same_content(None)


def test_refresh_stat_is_compare_and_set(state: WorkspaceState) -> None:
    """New stat data is recorded only where the stage still holds the same content: an entry
    re-staged (or removed) by another process meanwhile is left alone."""
    old = StageEntry(MODE_FILE, 1, oid("a"))
    state.update_stage(put=[(b"same", old), (b"restaged", old), (b"removed", old)])
    state.update_stage(put=[(b"restaged", StageEntry(MODE_FILE, 1, oid("b")))], delete=[b"removed"])
    refreshed = fresh_entry()
    refreshed = replaced(refreshed, id=oid("a"), size=1)
    state.refresh_stat([(b"same", refreshed), (b"restaged", refreshed), (b"removed", refreshed)])
    stage = state.stage()
    assert stage[b"same"] == refreshed
    assert stage[b"restaged"] == StageEntry(MODE_FILE, 1, oid("b"))
    assert b"removed" not in stage


def test_update_stage_is_one_transaction(state: WorkspaceState) -> None:
    """Stage puts, deletes and the stage tree id land together; replace_all starts afresh."""
    e = StageEntry(MODE_FILE, 1, oid("a"))
    tree = object_id(ObjectType.TREE, b"\x01")
    state.update_stage(put=[(b"a", e), (b"b", e)], tree=tree)
    assert set(state.stage()) == {b"a", b"b"}
    assert state.stage_tree() == tree
    state.update_stage(put=[(b"c", e)], replace_all=True)
    assert set(state.stage()) == {b"c"}
    assert state.stage_get(b"c") == e
    assert state.stage_get(b"a") is None


def test_hash_cache_respects_stat_and_stage_updates(state: WorkspaceState) -> None:
    """A cached hash is returned only for unchanged, non-racy stat, and restaging drops it."""
    entry = fresh_entry()
    state.remember_hashes([(b"f", entry)])
    assert state.cached_hash(b"f", stat_of(entry)) == entry.id
    assert state.cached_hash(b"f", replaced(stat_of(entry), size=11)) is None
    state.update_stage(put=[(b"f", entry)])
    assert state.cached_hash(b"f", stat_of(entry)) is None
