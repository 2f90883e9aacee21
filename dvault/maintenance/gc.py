"""gc: remove objects nothing needs, by mark and sweep with repacking.

Safety margins (never relaxed by a flag):
* gc holds the repository writer lock, so no add, commit or checkout runs meanwhile;
* everything reachable from refs, HEAD, the stage, dvault.lock and reflog entries within
  ``keep_within`` is kept, and so is every pack younger than ``PACK_GRACE_S`` (it may
  belong to a writer that crashed before referencing it — repair may still want it);
* live objects of a pack being removed are first copied into a new pack, which is sealed
  and indexed (the new copy preferred) before the old pack is deleted.
Copies a forced checkout kept in ``.dvault/lost+found`` (workspace/lostfound.py) go
once older than ``[gc] lost_found_days`` (default 14). gc never touches remotes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from dvault import config as cfg
from dvault.errors import UsageError
from dvault.fsutil import fsync_dir
from dvault.maintenance.roots import live_roots, remote_only
from dvault.reachability import walk, walk_tree
from dvault.repository import Repository
from dvault.store.pack import PackEntry, read_footer
from dvault.workspace import lostfound

PACK_GRACE_S = 3600.0
DEFAULT_KEEP_WITHIN_S = 14 * 86400.0


@dataclass
class GcReport:
    live_objects: int = 0
    removed_objects: int = 0
    removed_bytes: int = 0
    packs_removed: int = 0
    packs_rewritten: int = 0
    packs_kept_young: int = 0
    dry_run: bool = False
    details: list[str] = field(default_factory=list)
    lost_found_removed: list[str] = field(default_factory=list)
    """Entries of ``.dvault/lost+found`` removed (or, dry run, that would be)."""


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s`` or plain seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1, "w": 7 * 86400}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise UsageError(f"invalid duration {text!r} (use e.g. 14d, 12h, 30m)") from None


def lost_found_days(repo: Repository) -> float:
    """``[gc] lost_found_days``: a number of days, 0 or more (default 14)."""
    days = cfg.get(repo.config, "gc.lost_found_days", lostfound.DEFAULT_DAYS)
    if isinstance(days, bool) or not isinstance(days, int | float) or days < 0:
        raise UsageError(f"[gc] lost_found_days must be a number of days >= 0, not {days!r}")
    return float(days)


def collect(
    repo: Repository, dry_run: bool = False, keep_within_s: float = DEFAULT_KEEP_WITHIN_S
) -> GcReport:
    report = GcReport(dry_run=dry_run)
    with repo.locked():
        store = repo.store
        roots = live_roots(repo, keep_within_s)
        # a partial clone never fetched part of the history: what only a remote holds
        # is not walked (nothing of it is here to keep or to sweep)
        live = walk(store.get_raw, store.type_of, roots.values(), known=remote_only(repo)).objects
        stage_tree = repo.state.stage_tree()
        if stage_tree is None and repo.state.staged_under(b""):
            # a large add killed between its stage batches: what it staged is known only
            # to the stage, so nothing may be swept until an add records its tree again
            raise UsageError("the stage's tree is unknown (an add was interrupted); run add again")
        if stage_tree is not None:  # staged but uncommitted content is live too
            live.update(walk_tree(store.get_raw, store.type_of, stage_tree).objects)
        report.live_objects = len(live)
        now = time.time()
        packs = store.pack_files()
        doomed: list[str] = []
        rewrite: dict[str, list[PackEntry]] = {}
        for name, path in sorted(packs.items()):
            if now - path.stat().st_mtime < PACK_GRACE_S:
                report.packs_kept_young += 1
                continue
            entries = read_footer(path)
            keep = [e for e in entries if e.id in live]
            dead = [e for e in entries if e.id not in live]
            if not dead:
                continue
            report.removed_objects += len(dead)
            report.removed_bytes += sum(e.stored_len for e in dead)
            if keep:
                rewrite[name] = keep
            else:
                doomed.append(name)
        report.packs_removed = len(doomed) + len(rewrite)
        report.packs_rewritten = len(rewrite)
        expired = lostfound.expired(repo, lost_found_days(repo), now)
        report.lost_found_removed = [f".dvault/lost+found/{p.name}" for p in expired]
        if dry_run:
            return report
        lostfound.remove(expired)
        if rewrite:
            with store.writer(prefer=True) as writer:
                for name, keep in rewrite.items():
                    with open(packs[name], "rb") as f:
                        for entry in keep:
                            f.seek(entry.offset)
                            stored = f.read(entry.stored_len)
                            writer.put_prepared(
                                entry.id, entry.type, entry.compression, stored, entry.raw_len
                            )
            # the live copies are sealed and indexed; only now may the old packs go
        for name in [*rewrite, *doomed]:
            store.index.remove_pack(name)
            os.unlink(packs[name])
        if rewrite or doomed:
            fsync_dir(store.packs_dir)
            store.sync_packs()
    return report
