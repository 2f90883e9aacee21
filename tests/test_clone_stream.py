"""Memory-bounded remote paths at small scale: a clone fills the workspace in batches, the
remote catalog keeps compact locations, push confirms its packs on the remote, and verify
still names what damage affects. Batch sizes are made small so several batches happen."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dvault.hashing import ObjectId, ObjectType
from dvault.ops.sync import clone
from dvault.remote.catalog import RemoteCatalog, _pack_location, _unpack_location
from dvault.remote.push import push
from dvault.remote.session import pick_remote
from dvault.repo import Repo
from dvault.store.pack import PackEntry
from dvault.verify import verify_local
from dvault.workspace import checkout

FILES = 240


def _digests(root: Path) -> dict[str, str]:
    found = {}
    for dirpath, _dirs, files in os.walk(root / "data"):
        for name in files:
            path = Path(dirpath, name)
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[key] = "link:" + os.readlink(path)
            else:
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def pushed(tmp_path: Path) -> Iterator[tuple[Repo, Path]]:
    """A project of FILES small files in 12 directories (some identical, one executable,
    one symlink), committed and pushed to a directory remote."""
    repo = Repo.init(tmp_path / "proj")
    data = repo.root / "data"
    for i in range(FILES):
        path = data / f"d{i % 12:02d}" / f"f{i:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"same\n" if i % 40 == 0 else os.urandom(16 + i))
    (data / "d00" / "run.sh").write_text("#!/bin/sh\n")
    (data / "d00" / "run.sh").chmod(0o755)
    (data / "d01" / "link").symlink_to("f0001.bin")
    repo.add([data])
    repo.commit("v1")
    repo.add_remote("nas", str(tmp_path / "nas"), init=True)
    push(repo, pick_remote(repo, "nas"), ["main"])
    try:
        yield repo, tmp_path / "nas"
    finally:
        repo.close()


@pytest.mark.parametrize("batch, process_min", [(37, 1000), (100, 50)])
def test_clone_fills_the_workspace_in_batches(
    pushed: tuple[Repo, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch: int,
    process_min: int,
) -> None:
    """A clone written several batches at a time (threads, then worker processes) has every
    file, mode and link, a clean status and the stage tree of the commit it checked out."""
    repo, remote = pushed
    monkeypatch.setattr(checkout, "STREAM_BATCH", batch)
    monkeypatch.setattr(checkout, "PROCESS_MIN_FILES", process_min)
    report = clone(str(remote), tmp_path / "copy")
    assert report.written == FILES + 2
    assert _digests(tmp_path / "copy") == _digests(repo.root)
    assert os.access(tmp_path / "copy" / "data" / "d00" / "run.sh", os.X_OK)
    with Repo.open(tmp_path / "copy") as copy:
        _, head = copy.refs.head()
        assert head is not None and head == repo.refs.head()[1]
        assert copy.state.stage_tree() == copy.read_commit(head).tree
        status = copy.status()
        assert not (status.modified or status.untracked or status.deleted or status.staged)
        assert verify_local(copy, None, read_data=True).ok


def test_partial_clone_in_batches_writes_only_its_scope(
    pushed: tuple[Repo, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With paths, only the scoped files are written, batch after batch; the stage still
    records the whole snapshot so nothing outside the scope reads as deleted."""
    repo, remote = pushed
    monkeypatch.setattr(checkout, "STREAM_BATCH", 16)
    clone(str(remote), tmp_path / "copy", paths=["data/d03"])
    written = _digests(tmp_path / "copy")
    assert written == {k: v for k, v in _digests(repo.root).items() if k.startswith("data/d03/")}
    with Repo.open(tmp_path / "copy") as copy:
        assert len(copy.state.stage()) == FILES + 2
        assert not copy.status().deleted


def test_catalog_locations_round_trip() -> None:
    """A packed location gives back the pack and every entry field, at their largest."""
    oid = ObjectId(bytes(range(32)))
    entry = PackEntry(oid, ObjectType.CHUNKS, 1, (1 << 40) + 7, (1 << 30) - 1, (1 << 30) - 3)
    assert _unpack_location(oid, _pack_location(12345, entry)) == (12345, entry)


def test_push_confirms_its_packs_on_the_remote(pushed: tuple[Repo, Path]) -> None:
    """A pack already on the remote under a name this clone holds is counted on only when
    it is this clone's pack: one cut short, or replaced by other bytes of the same size,
    is refused (remote/intact.py, confirm_existing)."""
    repo, remote = pushed
    from dvault.remote.backend import RemoteTampered
    from dvault.remote.intact import confirm_existing
    from dvault.remote.session import Remote

    session = Remote(repo, pick_remote(repo, "nas"))
    session.refresh_catalog()
    names = sorted(session.catalog.packs)
    sizes = dict(session.catalog.packs)
    for name in names:
        confirm_existing(repo, session, name, sizes[name])  # intact: nothing raised
    victim = remote / "packs" / f"{names[0]}.pack"
    data = victim.read_bytes()
    victim.chmod(0o644)
    victim.write_bytes(data[:-1])
    with pytest.raises(RemoteTampered, match="bytes"):
        confirm_existing(repo, session, names[0], sizes[names[0]])
    victim.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, other content
    with pytest.raises(RemoteTampered, match="other content"):
        confirm_existing(repo, session, names[0], sizes[names[0]])


def test_released_catalog_loads_again_on_demand(pushed: tuple[Repo, Path]) -> None:
    """A fetch releases the catalog's object map once its transfer is planned; any later
    lookup (or a refresh) finds every object again, from the footer cache."""
    repo, _ = pushed
    from dvault.reachability import walk
    from dvault.remote.registry import open_backend

    spec = pick_remote(repo, "nas")
    catalog = RemoteCatalog(open_backend(spec), repo.dir / "remotes" / "nas" / "footers")
    catalog.refresh()
    head = repo.refs.head()[1]
    assert head is not None
    reachable = list(walk(repo.store.get_raw, repo.store.type_of, [head]).objects)
    before = {oid: catalog.locate(oid) for oid in reachable}
    count = len(catalog)
    catalog.release()
    assert not catalog._objects  # really dropped
    assert {oid: catalog.locate(oid) for oid in reachable} == before
    catalog.release()
    catalog.refresh()  # a refresh after a release still leaves every object findable
    assert len(catalog) == count
    assert all(catalog.type_of(oid) is not None for oid in reachable)


def test_verify_names_the_files_a_damaged_object_affects(pushed: tuple[Repo, Path]) -> None:
    """verify keeps no path per object, yet a damaged object's finding names its file and
    the ref that needs it (traced after the walk)."""
    repo, _ = pushed
    from dvault.trees import flatten

    head = repo.refs.head()[1]
    assert head is not None
    files = flatten(repo.store, repo.read_commit(head).tree)
    target = files[b"data/d05/f0005.bin"].id
    pack_no, entry = repo.store.index.lookup(target)  # type: ignore[misc]
    pack = repo.dir / "packs" / f"{repo.store.index.pack_name(pack_no)}.pack"
    pack.chmod(0o644)
    raw = bytearray(pack.read_bytes())
    raw[entry.offset + entry.stored_len // 2] ^= 0xFF
    pack.write_bytes(bytes(raw))
    report = verify_local(repo, None, read_data=True)
    assert not report.ok
    finding = next(p for p in report.problems if target.hex() in p)
    assert "data/d05/f0005.bin" in finding and "main" in finding
