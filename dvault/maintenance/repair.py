"""repair: make the store whole again from what survives, locally and on remotes.

1. Rebuild the index from the pack footers (the index is only a cache).
2. Salvage packs whose footer is damaged: every record that still matches its id is
   copied into a new pack; the damaged pack is moved to ``.dvault/damaged/`` (kept for
   inspection, never deleted).
3. Find every object the refs need that is missing or fails its hash, and fetch each from
   any configured remote that has an intact copy (verified on arrival); the good copy is
   preferred in the index from then on.
4. Restore damaged refs from their reflog or a remote's verified ref log (refs whose
   file does not parse first, so the object pass can walk them; refs pointing at an
   object no remote had, after it).
5. Report what could not be recovered, with the files and refs it affects.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from dvault.errors import CorruptObject, DvaultError, MissingObject, StorageError
from dvault.hashing import ObjectId, ObjectType
from dvault.maintenance.ref_repair import restore_refs
from dvault.maintenance.roots import live_roots
from dvault.reachability import walk
from dvault.remote.session import Remote, remote_specs
from dvault.repository import Repository
from dvault.store import erased
from dvault.store.pack import compress, scan_records
from dvault.store.registry import in_use as store_in_use


@dataclass
class RepairReport:
    index_rebuilt: bool = False
    packs_salvaged: int = 0
    objects_salvaged: int = 0
    objects_refetched: int = 0
    refs_restored: list[str] = field(default_factory=list)
    unrecoverable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unrecoverable


def _rebuild_index(repo: Repository) -> None:
    repo.close()
    if store_in_use(repo.dir):
        raise StorageError(
            "the object index is open elsewhere in this process (another Repo, a dvault.open "
            "file or a dvault:// filesystem); close it before repair"
        )
    shutil.rmtree(repo.dir / "index", ignore_errors=True)  # close() dropped the store


def _salvage(repo: Repository, report: RepairReport, only: set[str] | None = None) -> None:
    """Move each pack with an unreadable footer aside, then copy out its intact records.

    Aside first: the salvaged pack can have the very same footer, hence the same name.
    A crash in between leaves the records in ``damaged/``, where the next repair finds
    them again.
    """
    store = repo.store
    aside = repo.dir / "damaged"
    for name in list(store.unreadable_packs):
        aside.mkdir(exist_ok=True)
        os.replace(store.packs_dir / f"{name}.pack", aside / f"{name}.pack")
        del store.unreadable_packs[name]
    damaged = sorted(aside.glob("*.pack")) if aside.is_dir() else []
    if only is not None:  # just the packs set aside now, not earlier ones again
        damaged = [path for path in damaged if path.stem in only]
    if not damaged:
        return
    with store.writer(prefer=True) as writer:
        for path in damaged:
            for entry, raw in scan_records(path):
                if store.has(entry.id):
                    continue
                method, stored = compress(raw)
                writer.put_prepared(entry.id, entry.type, method, stored, len(raw))
                report.objects_salvaged += 1
            report.packs_salvaged += 1


def _damaged_objects(repo: Repository) -> dict[ObjectId, str]:
    """Objects the roots need that are missing or fail their hash: id -> where used."""
    store = repo.store
    bad: dict[ObjectId, str] = {}
    roots = live_roots(repo, keep_within_s=None, skip_damaged=True)

    def read(oid: bytes) -> tuple[ObjectType, bytes]:
        try:
            return store.get_raw(oid)
        except (CorruptObject, MissingObject):
            bad[ObjectId(bytes(oid))] = "metadata"
            raise

    for name, start in roots.items():
        try:
            found = walk(read, store.type_of, [start])
        except (CorruptObject, MissingObject):
            continue  # recorded in bad; the rest of this root is unreachable until fixed
        for oid, path in found.missing.items():
            bad.setdefault(oid, f"{path} ({name})")
        for oid, kind in found.objects.items():
            if oid in bad:
                continue
            try:
                store.get_raw(oid)
            except (CorruptObject, MissingObject):
                bad[oid] = f"{found.paths.get(oid, kind.name.lower())} ({name})"
    # erased on purpose by dvault redact (store/erased.py): never damage, never re-fetched
    gone = erased.erased(repo.dir)
    return {oid: where for oid, where in bad.items() if oid not in gone}


def _set_aside(repo: Repository, bad: dict[ObjectId, str], report: RepairReport) -> None:
    """Move each pack that holds a damaged copy of a needed object to ``damaged/`` and
    salvage its intact records. A good copy fetched later must not share ``packs/`` with
    the bad one: it can get the very same pack name (same footer), and a rebuilt index
    could pick the bad copy again."""
    store = repo.store
    names = set()
    for oid in bad:
        found = store.index.lookup(oid)
        if found is not None:
            names.add(store.index.pack_name(found[0]))
    if not names:
        return
    aside = repo.dir / "damaged"
    aside.mkdir(exist_ok=True)
    for name in sorted(names):
        store.index.remove_pack(name)
        os.replace(store.packs_dir / f"{name}.pack", aside / f"{name}.pack")
    repo.close()  # pack numbers may be reused: drop file descriptors of the moved packs
    _salvage(repo, report, names)


def _refetch(
    repo: Repository, bad: dict[ObjectId, str], report: RepairReport
) -> dict[ObjectId, str]:
    left = dict(bad)
    for spec in remote_specs(repo).values():
        if not left:
            break
        try:
            remote = Remote(repo, spec)
            remote.catalog.refresh()
        except DvaultError:
            continue
        with repo.store.writer(prefer=True) as writer:
            for oid in list(left):
                if not remote.catalog.has(oid):
                    continue
                try:
                    kind, raw = remote.read_object(oid)
                except DvaultError:
                    continue
                method, stored = compress(raw)
                writer.put_prepared(oid, kind, method, stored, len(raw))
                report.objects_refetched += 1
                del left[oid]
    return left


def repair(repo: Repository) -> RepairReport:
    report = RepairReport()
    with repo.locked():
        _rebuild_index(repo)
        report.index_rebuilt = True
        _salvage(repo, report)
        restored, lost = restore_refs(repo, unreadable_only=True)
        for _ in range(8):  # metadata repaired by a pass can reveal more objects below it
            bad = _damaged_objects(repo)
            if not bad:
                break
            _set_aside(repo, bad, report)
            left = _refetch(repo, bad, report)
            if left == bad:
                break
        more_restored, more_lost = restore_refs(repo, unreadable_only=False)
        report.refs_restored = restored + more_restored
        bad = _damaged_objects(repo)
        report.unrecoverable = (
            lost
            + more_lost
            + [
                f"object {oid.hex()} ({where}) is missing or damaged and no remote has it"
                for oid, where in sorted(bad.items())
            ]
        )
    return report
