"""Storage guarantees seen from the command line: chunk dedup and a rebuildable index."""

from __future__ import annotations

import hashlib
import random
import shutil

from .helpers import Project, sha256

MIB = 1 << 20


def _packs_size(project: Project) -> int:
    return sum(p.stat().st_size for p in (project.root / ".dvault" / "packs").glob("*.pack"))


def test_cdc_stores_only_the_changed_part_of_a_checkpoint(project: Project) -> None:
    """A fine-tune rewriting ~10% of a 16 MiB checkpoint grows the store by far less than 16 MiB."""
    rng = random.Random(1234)
    size = 16 * MIB
    ckpt = project.write("ckpt/model.bin", rng.randbytes(size))
    project.ok("add", "ckpt")
    project.ok("commit", "-m", "base model")
    v1_hash = sha256(ckpt)
    before = _packs_size(project)
    assert before >= size * 0.95  # random data is stored (raw), once

    # rewrite ~10% in place, in three scattered regions (FastCDC re-stores each region plus
    # about one average chunk around it: ~18% here; a whole-file store would add 100%)
    region = size // 30
    with open(ckpt, "r+b") as f:
        for start in (2 * MIB + 12345, 7 * MIB + 777, 12 * MIB + 4242):
            f.seek(start)
            f.write(rng.randbytes(region))
    assert ckpt.stat().st_size == size
    v2_hash = sha256(ckpt)
    project.commit("fine-tuned")
    growth = _packs_size(project) - before
    assert growth > 3 * region * 0.9  # the new bytes are stored
    assert growth < size * 0.25, (
        f"store grew {growth / MIB:.2f} MiB for a {3 * region / MIB:.2f} MiB change"
    )

    project.ok("checkout", "HEAD~1")
    assert sha256(ckpt) == v1_hash
    project.ok("checkout", "main")
    assert sha256(ckpt) == v2_hash
    shown = project.ok("show", "HEAD~1:ckpt/model.bin").raw
    assert hashlib.sha256(shown).hexdigest() == v1_hash


def test_unchanged_content_is_stored_once(project: Project) -> None:
    """Committing a copy of an existing file (same bytes, new name) stores nothing new."""
    data = random.Random(5).randbytes(2 * MIB)
    project.write("data/a.bin", data)
    project.ok("add", "data")
    project.ok("commit", "-m", "one")
    before = _packs_size(project)
    project.write("data/copy.bin", data)
    project.commit("copy")
    assert _packs_size(project) - before < 64 * 1024


def test_index_rebuilds_from_packs(project: Project) -> None:
    """Deleting .dvault/index loses nothing: both versions still restore byte for byte."""
    rng = random.Random(99)
    project.write("data/small.txt", "v1\n")
    project.write("data/big.bin", rng.randbytes(3 * MIB))
    project.ok("add", "data")
    project.ok("commit", "-m", "v1")
    project.ok("tag", "v1")
    v1 = project.snapshot()
    project.write("data/small.txt", "v2\n")
    with open(project.root / "data" / "big.bin", "r+b") as f:
        f.seek(MIB)
        f.write(rng.randbytes(200_000))
    project.write("data/new.bin", rng.randbytes(5000))
    project.commit("v2")
    v2 = project.snapshot()

    shutil.rmtree(project.root / ".dvault" / "index")
    assert not (project.root / ".dvault" / "index").exists()
    project.ok("checkout", "v1")
    assert project.snapshot() == v1
    project.ok("checkout", "main")
    assert project.snapshot() == v2
    assert len(project.log()) == 2

    # also when the workspace is gone entirely
    shutil.rmtree(project.root / ".dvault" / "index")
    shutil.rmtree(project.root / "data")
    project.ok("checkout", "--force", "v1", "--", "data")
    assert project.snapshot() == v1


def test_index_rebuild_keeps_abbreviated_ids(project: Project) -> None:
    """After an index rebuild, abbreviated commit ids still resolve."""
    project.write("data/a", "a")
    project.ok("add", "data")
    project.ok("commit", "-m", "one")
    head = project.head()
    shutil.rmtree(project.root / ".dvault" / "index")
    assert project.ok("show", "--json", head[:8]).json()["id"] == head
