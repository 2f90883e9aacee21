"""Guarantee 2 under media errors: one flipped bit (or a truncation) anywhere dvault keeps
its state is detected by ``verify``, never served as data, and repaired from the remote.

A small repository (two commits, an annotated tag, a 1.1 MB chunked checkpoint) is pushed
to a directory remote. Then, many times, the pristine project is copied, one file of one
category is damaged — pack data records, pack headers/footers/trailers, the LMDB index,
commit/tree/tag/chunk-list objects, ref files — and the real command line is run on it:
``verify`` and ``verify --read-data``, a forced checkout of every commit (any file whose
bytes were never committed at that path counts as wrong data served), then ``repair``,
``verify --read-data``, every commit checked out again and compared byte for byte, and
``verify --read-data`` once more after deleting the index (a cache: losing it loses
nothing). Damage to pack headers, footers and trailers must also be repaired without any
remote, from the pack's own records.

``DVAULT_FLIPS=N`` sets the number of flips (default 200), ``DVAULT_FLIP_SEED`` the seed
(it fixes every choice, but commit and tag ids, hence pack names, contain the time of the
run; a failure names the file, offset and bit it damaged).
Bytes nothing reads (a record's 48-byte header repeats its footer entry and is read only
when salvaging a pack whose footer is lost; a ref's trailing newline turned into another
whitespace character; a zstd frame bit the decoder ignores, so the object still hashes to
its id) are counted apart, and each such case is shown harmless: both
verify modes pass and every commit restores exactly. Index damage must be reported or
harmless (verify passes and every commit restores exactly): the index is a cache. A damaged
ref is restored by repair from its own reflog (no remote needed): afterwards every ref must
name what it named before, verify must pass and every commit restore exactly.
"""

from __future__ import annotations

import os
import random
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dvault.errors import CorruptObject
from dvault.hashing import ObjectType
from dvault.reachability import walk
from dvault.refs import RefStore
from dvault.repo import Repo
from dvault.store.pack import (
    FOOTER_ENTRY,
    HEADER,
    RECORD,
    TRAILER,
    PackEntry,
    read_footer,
    unpack_object,
)

from .faults import (
    AUTHOR,
    ProbeWorker,
    add_to_total,
    cli,
    cli_ok,
    commit_ids,
    flip_bit,
    manifest,
    probe,
    ram_dir,
    record,
    seeded,
    truncate,
    write_files,
)

DEFAULT_FLIPS = 200
DEFAULT_SEED = 20240611
SHARES = {"pack-data": 0.3, "pack-footer": 0.2, "index": 0.2, "metadata": 0.2, "refs": 0.1}
"""Each category's share of the flips."""
METADATA = (ObjectType.COMMIT, ObjectType.TREE, ObjectType.TAG, ObjectType.CHUNKS)
REF_FILES = ("HEAD", "refs/heads/main", "refs/tags/v1")


def flips_wanted() -> int:
    return max(len(SHARES), int(os.environ.get("DVAULT_FLIPS", DEFAULT_FLIPS)))


def flips_for(category: str) -> int:
    """This category's share of ``DVAULT_FLIPS`` (the first takes the rounding rest)."""
    total = flips_wanted()
    counts = {c: int(total * share) for c, share in SHARES.items()}
    counts["pack-data"] += total - sum(counts.values())
    return counts[category]


@dataclass
class Located:
    pack: str
    entry: PackEntry
    reachable: bool


@dataclass
class Pristine:
    """The undamaged project and what the test knows about its bytes."""

    root: Path
    remote: Path
    commits: dict[str, dict[str, str]]  # id -> manifest, oldest first
    objects: dict[bytes, Located]
    packs: dict[str, tuple[int, int]]  # name -> (size, footer offset)
    refs: dict[str, Any]  # ref file -> its parsed value


def _checkpoint(rng: random.Random, size: int) -> bytes:
    """Compressible but varied bytes: tokens from a small random vocabulary."""
    vocab = [rng.randbytes(16) for _ in range(512)]
    return b"".join(rng.choice(vocab) for _ in range(size // 16))


def _parsed_refs(root: Path) -> dict[str, Any]:
    """What each ref file means to dvault (an exception's type if it does not parse)."""
    refs = RefStore(root / ".dvault")
    values: dict[str, Any] = {}
    for name in REF_FILES:
        try:
            values[name] = refs.head() if name == "HEAD" else refs.read(name)
        except Exception as exc:
            values[name] = type(exc).__name__
    return values


@pytest.fixture(scope="module")
def pristine() -> Iterator[Pristine]:
    """Two commits, an annotated tag, pushed (main and v1) to a directory remote."""
    with ram_dir("dvault-bitflips-") as base, pytest.MonkeyPatch.context() as mp:
        root, remote = base / "proj", base / "remote"
        rng = random.Random(7)
        mp.setenv("DVAULT_AUTHOR", AUTHOR)
        root.mkdir()
        cli_ok(root, "init")
        files = {
            f"data/labels/part{i}.csv": b"id,label\n" + rng.randbytes(900).hex().encode()
            for i in range(5)
        }
        files["data/images/raw.bin"] = rng.randbytes(20_000)
        files["data/model.ckpt"] = _checkpoint(rng, 1_100_000)
        write_files(root, files)
        cli_ok(root, "add", "data")
        cli_ok(root, "commit", "-m", "first version")
        first = manifest(root)
        ckpt = bytearray(files["data/model.ckpt"])
        ckpt[400_000:480_000] = _checkpoint(rng, 80_000)
        write_files(
            root,
            {
                "data/labels/part1.csv": b"id,label\nrelabelled\n" * 40,
                "data/images/new.bin": rng.randbytes(4_000),
                "data/model.ckpt": bytes(ckpt),
            },
        )
        (root / "data/labels/part4.csv").unlink()
        cli_ok(root, "commit", "-a", "-m", "second version")
        cli_ok(root, "tag", "v1", "-m", "the data of the baseline model")
        cli_ok(root, "remote", "add", "--init", "origin", str(remote))
        cli_ok(root, "push", "origin", "main", "v1")
        assert cli(root, "verify", "--read-data").code == 0
        assert cli(root, "verify", "--remote", "origin", "--read-data").code == 0
        second_id, first_id = commit_ids(root)
        commits = {first_id: first, second_id: manifest(root)}

        packs: dict[str, tuple[int, int]] = {}
        objects: dict[bytes, Located] = {}
        with Repo.open(root) as repo:
            store = repo.store
            starts = [repo.refs.head()[1], *repo.refs.branches().values()]
            starts += list(repo.refs.tags().values())
            reach = walk(store.get_raw, store.type_of, [s for s in starts if s is not None])
            for name, path in store.pack_files().items():
                entries = read_footer(path)
                size = path.stat().st_size
                packs[name] = (size, size - TRAILER.size - len(entries) * FOOTER_ENTRY.size)
                for e in entries:
                    objects[e.id] = Located(name, e, e.id in reach.objects)
        kinds = Counter(o.entry.type for o in objects.values())
        assert kinds[ObjectType.CHUNKS] == 2, kinds  # the checkpoint is chunked
        yield Pristine(root, remote, commits, objects, packs, _parsed_refs(root))


@dataclass
class Flip:
    """One injected fault and what it is expected to do."""

    category: str
    file: str  # relative to .dvault
    action: str  # "flip offset/bit" or "truncate to N"
    target: str  # what the bytes are
    must_fast: bool  # fast verify must report it
    must_full: bool  # verify --read-data must report it
    unread: str = ""  # why nothing reads these bytes on the normal path (if so)
    local_salvage: bool = False  # repair must succeed without the remote
    entry: PackEntry | None = None  # the object whose stored bytes were hit


def _pick(category: str, p: Pristine, rng: random.Random) -> tuple[Flip, int, int | None]:
    """Choose what to damage: (description, offset or new size, bit or None to truncate)."""
    dv = p.root / ".dvault"
    if category in ("pack-data", "metadata"):
        pool = (
            sorted(p.objects)
            if category == "pack-data"
            else sorted(
                o for o, loc in p.objects.items() if loc.entry.type in METADATA and loc.reachable
            )
        )
        oid = rng.choice(pool)
        loc = p.objects[oid]
        e = loc.entry
        start = e.offset - RECORD.size if category == "pack-data" else e.offset
        offset = rng.randrange(start, e.offset + e.stored_len)
        kind = e.type.name.lower()
        in_header = offset < e.offset
        meta = e.type in METADATA
        flip = Flip(
            category,
            f"packs/{loc.pack}.pack",
            "",
            f"{'record header of ' if in_header else ''}{kind} {oid.hex()[:12]}"
            f"{'' if loc.reachable else ' (unreachable)'}",
            must_fast=meta and loc.reachable and not in_header,
            must_full=loc.reachable and not in_header,
            unread="record header" if in_header else "" if loc.reachable else "unreachable",
            entry=None if in_header else e,
        )
        return flip, offset, rng.randrange(8)
    if category == "pack-footer":
        name = rng.choice(sorted(p.packs))
        size, footer = p.packs[name]
        path = dv / "packs" / f"{name}.pack"
        if rng.random() < 0.1:
            new = rng.randrange(0, size)
            flip = Flip(category, f"packs/{name}.pack", "", "pack", True, True)
            return flip, new, None
        spots = list(range(len(HEADER))) + list(range(footer, size))
        offset = rng.choice(spots)
        what = (
            "header"
            if offset < len(HEADER)
            else "trailer"
            if offset >= size - TRAILER.size
            else "footer"
        )
        flip = Flip(category, f"packs/{name}.pack", "", f"pack {what}", True, True)
        flip.local_salvage = True
        return flip, offset, rng.randrange(8)
    if category == "index":
        path = dv / "index" / "data.mdb"
        size = path.stat().st_size
        flip = Flip(category, "index/data.mdb", "", "LMDB index", False, False)
        if rng.random() < 0.1:
            return flip, rng.randrange(0, size), None
        return flip, rng.randrange(size), rng.randrange(8)
    assert category == "refs"
    name = rng.choice(REF_FILES)
    path = dv / name
    size = path.stat().st_size
    flip = Flip(category, name, "", f"ref {name}", True, True)
    if rng.random() < 0.15:
        return flip, rng.randrange(0, size), None
    return flip, rng.randrange(size), rng.randrange(8)


@dataclass
class Tally:
    injected: int = 0
    must_detect: int = 0
    detected_full: int = 0
    detected_fast: int = 0
    must_fast: int = 0
    unread: int = 0
    repaired: int = 0
    repaired_locally: int = 0
    local_cases: int = 0
    wrong: int = 0
    silent_index: int = 0
    crashed: int = 0
    refs_restored: int = 0
    hit_full: int = 0
    hit_fast: int = 0
    index: int = 0
    unread_kinds: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def _still_decodes(pack: Path, entry: PackEntry) -> bool:
    """Whether the damaged stored bytes still decompress to exactly the object (its hash
    checked): then nothing is damaged that anyone reads, e.g. a flip in a zstd frame
    field the decoder ignores."""
    with open(pack, "rb") as f:
        f.seek(entry.offset)
        stored = f.read(entry.stored_len)
    try:
        unpack_object(entry.id, entry, stored, "flipped object")
    except CorruptObject:
        return False
    return True


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _restores(root: Path, commits: dict[str, dict[str, str]]) -> list[str]:
    """Check out every commit (forced) and compare with what was committed."""
    bad = []
    for commit, want in commits.items():
        result = cli(root, "checkout", "--force", commit)
        if result.code != 0:
            bad.append(result.describe())
        elif manifest(root) != want:
            bad.append(f"checkout {commit[:12]} does not restore the committed bytes")
    return bad


def _run_flip(
    p: Pristine,
    category: str,
    number: int,
    rng: random.Random,
    scratch: Path,
    tally: Tally,
    worker: ProbeWorker,
) -> None:
    flip, where, bit = _pick(category, p, rng)
    work = scratch / f"{category}-{number}"
    damaged = _copy(p.root, work / "proj")
    target = damaged / ".dvault" / flip.file
    if bit is None:
        flip.action = f"truncate to {where} bytes"
        truncate(target, where)
    else:
        flip.action = f"flip bit {bit} of byte {where}"
        flip_bit(target, where, bit)
    what = f"#{number} {flip.file}: {flip.action} ({flip.target})"
    tally.injected += 1
    if category == "refs" and _parsed_refs(damaged) == p.refs:
        flip.must_fast = flip.must_full = False
        flip.unread = "ref whitespace"  # the ref still names the same (e.g. "\n" -> "\v")
    if flip.entry is not None and _still_decodes(target, flip.entry):
        flip.must_fast = flip.must_full = False
        flip.unread = "ignored zstd bit"  # the object still hashes to its id

    probe_copy = _copy(damaged, work / "probe")
    if category == "index":
        seen = worker.probe(probe_copy, p.commits)
    else:
        seen = probe(probe_copy, p.commits)
    if "crashed" in seen:
        tally.crashed += 1
        tally.failures.append(f"{what}: probe crashed ({seen['crashed']}): {seen['stderr']}")
        return
    fast, full = seen["fast"] != 0, seen["full"] != 0
    exact = all(seen["restored"].values())
    tally.detected_fast += fast
    tally.detected_full += full
    tally.wrong += bool(seen["wrong"])
    if seen["wrong"]:
        tally.failures.append(f"{what}: wrong data served: {seen['wrong']}")
    if seen["tracebacks"]:
        tally.failures.append(f"{what}: traceback: {seen['tracebacks'][0]}")
    if flip.must_full:
        tally.must_detect += 1
        tally.hit_full += full
        if not full:
            tally.failures.append(f"{what}: verify --read-data missed it")
    if flip.must_fast:
        tally.must_fast += 1
        tally.hit_fast += fast
        if not fast:
            tally.failures.append(f"{what}: verify missed damage to metadata")
    if flip.unread:
        tally.unread += 1
        tally.unread_kinds[flip.unread] = tally.unread_kinds.get(flip.unread, 0) + 1
        if full or fast or not exact:
            tally.failures.append(
                f"{what}: counted as unread, yet verify={seen['fast']}, "
                f"--read-data={seen['full']}, restores exact={exact}: {seen['full_err']}"
            )
    tally.index += category == "index"
    if category == "index" and not (fast or full):
        tally.silent_index += 1
        if not exact:
            tally.failures.append(f"{what}: index damage unreported but restores differ")

    if flip.local_salvage:
        tally.local_cases += 1
        alone = _copy(damaged, work / "alone")
        cli_ok(alone, "remote", "remove", "origin")
        problems = _repair_and_check(alone, p.commits, restore=False)
        if problems:
            tally.failures.append(f"{what}: repair without a remote: {problems[0]}")
        else:
            tally.repaired_locally += 1

    if category == "refs" and not flip.unread:
        # a ref is restored from its own reflog: no remote needed
        problems = _repair_and_check(damaged, p.commits, refs=p.refs)
        if problems:
            tally.failures.append(f"{what}: after repair: {problems[0]}")
        else:
            tally.refs_restored += 1
        shutil.rmtree(work, ignore_errors=True)
        return
    problems = _repair_and_check(damaged, p.commits)
    if problems:
        tally.failures.append(f"{what}: after repair: {problems[0]}")
    else:
        tally.repaired += 1
    shutil.rmtree(work, ignore_errors=True)


def _repair_and_check(
    root: Path,
    commits: dict[str, dict[str, str]],
    restore: bool = True,
    refs: dict[str, Any] | None = None,
) -> list[str]:
    """Repair, check every ref names what ``refs`` says (if given), then verify
    --read-data, and (``restore``) check out every commit and verify again from a rebuilt
    index; returns what failed."""
    repaired = cli(root, "repair")
    if repaired.code != 0:
        return [repaired.describe()]
    if refs is not None and _parsed_refs(root) != refs:
        return [f"refs after repair {_parsed_refs(root)} != {refs}"]
    checked = cli(root, "verify", "--read-data")
    if checked.code != 0:
        return [checked.describe()]
    if not restore:
        return []
    bad = _restores(root, commits)
    if bad:
        return bad
    shutil.rmtree(root / ".dvault" / "index")
    rebuilt = cli(root, "verify", "--read-data")
    if rebuilt.code != 0:
        return ["index rebuilt after repair: " + rebuilt.describe()]
    return []


def _kinds(kinds: dict[str, int]) -> str:
    return f" ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))})" if kinds else ""


@pytest.mark.parametrize("category", list(SHARES))
def test_bit_flips_are_detected_and_repaired(
    category: str,
    pristine: Pristine,
    tmp_path_factory: pytest.TempPathFactory,
    record_property: Any,
) -> None:
    """Every flip in this category is detected, never served, and repaired."""
    seed = int(os.environ.get("DVAULT_FLIP_SEED", DEFAULT_SEED))
    rng = seeded("DVAULT_FLIP_SEED", DEFAULT_SEED)
    rng = random.Random(f"{rng.random()}-{category}")
    tally = Tally()
    worker = ProbeWorker()
    try:
        with ram_dir(f"dvault-{category}-") as scratch:
            for number in range(flips_for(category)):
                _run_flip(pristine, category, number, rng, scratch, tally, worker)
    finally:
        worker.close()
    t = tally
    line = (
        f"bit flips ({category}, seed {seed}): {t.injected} injected; "
        f"{t.hit_full}/{t.must_detect} damaging reachable data, metadata or refs detected "
        f"by verify --read-data, {t.hit_fast}/{t.must_fast} damaging metadata by verify; "
        f"{t.unread} in bytes nothing reads{_kinds(t.unread_kinds)}; "
        f"{t.repaired} repaired from the remote"
    )
    if t.local_cases:
        line += f" ({t.repaired_locally}/{t.local_cases} also without it)"
    if category == "refs":
        line += f", {t.refs_restored} damaged refs restored from their reflog"
    if category == "index":
        line += f"; index: {t.injected - t.silent_index} reported, {t.silent_index} harmless"
    line += f"; {t.wrong} wrong bytes served"
    record(record_property, line)
    counts = {k: v for k, v in tally.__dict__.items() if isinstance(v, int)}
    counts.update({f"unread:{k}": v for k, v in tally.unread_kinds.items()})
    totals = add_to_total(tmp_path_factory.getbasetemp(), "bitflips", category, counts, 5)
    if totals is not None:
        kinds = {k[len("unread:") :]: v for k, v in totals.items() if k.startswith("unread:")}
        record(
            record_property,
            f"bit flips: {totals['injected']} injected; {totals['hit_full']}/"
            f"{totals['must_detect']} detected by verify --read-data ({totals['hit_fast']}/"
            f"{totals['must_fast']} metadata also by verify); {totals['unread']} in bytes "
            f"nothing reads{_kinds(kinds)}; {totals['index'] - totals['silent_index']} index "
            f"flips reported, {totals['silent_index']} harmless; {totals['repaired']} "
            f"repaired from the remote, {totals['refs_restored']} damaged refs restored "
            "from their reflog; "
            f"{totals['wrong']} wrong bytes served",
        )
    assert not tally.failures, f"{len(tally.failures)} failure(s):\n" + "\n".join(
        tally.failures[:20]
    )
