"""The generated projects: the ML project (v1 and its v2 changes), the tiny files and the
large files of the scale modes; deterministic for a seed."""

from __future__ import annotations

import itertools
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from benchlib.measure import KiB, MiB

WRITE_BLOCK = 4 * MiB


@dataclass(frozen=True)
class TreeSpec:
    """Sizes of the synthetic project; later modes (many tiny files, huge files) add builders."""

    classes: int
    images_per_class: int
    image_min_bytes: int
    image_max_bytes: int
    csv_bytes: int
    checkpoint_bytes: int
    v2_new_images: int
    v2_edited_labels: int
    v2_deleted_images: int
    v2_csv_append_bytes: int
    v2_finetune_regions: int
    v2_finetune_fraction: float

    @classmethod
    def from_scale(cls, scale: float) -> TreeSpec:
        """Default ML-project shape (~20k files, ~750 MB at 1.0); counts and big files scale.

        Individual image sizes stay realistic (8-64 KiB); scaling changes how many there are.
        """

        def count(n: int) -> int:
            return max(1, round(n * scale))

        return cls(
            classes=count(100),
            images_per_class=100,
            image_min_bytes=8 * KiB,
            image_max_bytes=64 * KiB,
            csv_bytes=count(30_000_000),
            checkpoint_bytes=max(64 * KiB, round(128 * MiB * scale) // (4 * KiB) * (4 * KiB)),
            v2_new_images=count(200),
            v2_edited_labels=count(100),
            v2_deleted_images=count(50),
            v2_csv_append_bytes=count(1_000_000),
            v2_finetune_regions=10,
            v2_finetune_fraction=0.10,
        )

    @property
    def images(self) -> int:
        return self.classes * self.images_per_class


def _weight_high_byte_table() -> bytes:
    """Map a uniform byte to the sign + top 7 exponent bits of a float32 of magnitude ~1e-4..0.1.

    Real weights have random mantissas but clustered exponents, so they compress only a little
    (~6% with zstd -1); uniform random bytes would not compress at all.
    """
    shares = [(57, 8), (58, 16), (59, 32), (60, 48), (61, 24)]  # (exponent >> 1, n of 128)
    high_bits = [value for value, n in shares for _ in range(n)]
    return bytes((b & 0x80) | high_bits[b & 0x7F] for b in range(256))


WEIGHT_HIGH_BYTE = _weight_high_byte_table()


def weight_bytes(rng: random.Random, size: int) -> bytearray:
    """Seeded little-endian float32 bytes that look like trained weights (size % 4 == 0)."""
    block = bytearray(rng.randbytes(size))
    block[3::4] = block[3::4].translate(WEIGHT_HIGH_BYTE)
    return block


def image_path(index: int, cls_index: int) -> Path:
    return Path("data", "images", f"cls_{cls_index:03d}", f"img_{index:05d}.jpg")


def label_json(rng: random.Random, index: int, cls_index: int) -> str:
    """A small detection-style label file for one image."""
    x, y = rng.randint(0, 400), rng.randint(0, 400)
    label = {
        "image": image_path(index, cls_index).relative_to("data").as_posix(),
        "label": cls_index,
        "bbox": [x, y, x + rng.randint(16, 224), y + rng.randint(16, 224)],
        "annotator": f"annotator_{rng.randint(0, 19):02d}",
        "confidence": round(rng.random(), 3),
    }
    return json.dumps(label, indent=2) + "\n"


def csv_row(rng: random.Random, row_id: int, classes: int) -> str:
    """One annotation row: repetitive text, so the CSV compresses like real metadata."""
    cls_index = rng.randrange(classes)
    split = rng.choice(("train", "train", "train", "val", "test"))
    date = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return (
        f"{row_id},images/cls_{cls_index:03d}/img_{row_id % 100_000:05d}.jpg,{cls_index},"
        f"{rng.random():.4f},{rng.random():.4f},{rng.random():.4f},{rng.random():.4f},{split},"
        f"annotator_{rng.randint(0, 19):02d},{date}\n"
    )


def write_csv_rows(f: TextIO, rng: random.Random, first_id: int, classes: int, size: int) -> int:
    """Write rows (ids from first_id) until at least size characters; returns the count.

    Rows go out in batches so a large CSV never sits in memory.
    """
    written = 0
    row_id = first_id
    while written < size:
        batch: list[str] = []
        while written < size and len(batch) < 10_000:
            batch.append(csv_row(rng, row_id, classes))
            written += len(batch[-1])
            row_id += 1
        f.write("".join(batch))
    return written


def write_weights(rng: random.Random, path: Path, size: int) -> None:
    """Stream a checkpoint to disk in blocks so memory stays small for any size."""
    with path.open("wb") as f:
        for offset in range(0, size, WRITE_BLOCK):
            f.write(weight_bytes(rng, min(WRITE_BLOCK, size - offset)))


def generate_v1(project: Path, spec: TreeSpec, seed: int) -> None:
    """Write the version-1 tree.

    Every file gets its own random bytes (randbytes runs at ~250 MB/s): slicing one shared
    buffer would create cross-file duplicates that a content-defined-chunking store could
    dedup, understating its size.
    """
    rng = random.Random(f"dvault-bench:{seed}:v1")
    for cls_index in range(spec.classes):
        (project / "data" / "images" / f"cls_{cls_index:03d}").mkdir(parents=True)
    (project / "data" / "labels").mkdir(parents=True)
    (project / "checkpoints").mkdir()
    for index in range(spec.images):
        cls_index = index // spec.images_per_class
        size = rng.randint(spec.image_min_bytes, spec.image_max_bytes)
        (project / image_path(index, cls_index)).write_bytes(rng.randbytes(size))
        label = label_json(rng, index, cls_index)
        (project / "data" / "labels" / f"{index:05d}.json").write_text(label)
    with (project / "data" / "train.csv").open("w") as f:
        header = "id,image,label,x,y,w,h,split,annotator,date\n"
        f.write(header)
        write_csv_rows(f, rng, 0, spec.classes, spec.csv_bytes - len(header))
    for name in ("model_a.bin", "model_b.bin"):
        write_weights(rng, project / "checkpoints" / name, spec.checkpoint_bytes)


def apply_v2(project: Path, spec: TreeSpec, seed: int) -> int:
    """Turn v1 into v2 in place, like a typical iteration; returns bytes of new content.

    Adds images, edits labels, appends CSV rows, overwrites scattered regions of model_a.bin
    (size unchanged, as in fine-tuning) and deletes some of the original images.
    """
    rng = random.Random(f"dvault-bench:{seed}:v2")
    written = 0
    for index in range(spec.images, spec.images + spec.v2_new_images):
        data = rng.randbytes(rng.randint(spec.image_min_bytes, spec.image_max_bytes))
        (project / image_path(index, rng.randrange(spec.classes))).write_bytes(data)
        written += len(data)
    for index in rng.sample(range(spec.images), spec.v2_edited_labels):
        label = label_json(rng, index, index // spec.images_per_class)
        (project / "data" / "labels" / f"{index:05d}.json").write_text(label)
        written += len(label)
    with (project / "data" / "train.csv").open("a") as f:
        written += write_csv_rows(f, rng, 10_000_000, spec.classes, spec.v2_csv_append_bytes)
    written += finetune(rng, project / "checkpoints" / "model_a.bin", spec)
    for index in rng.sample(range(spec.images), spec.v2_deleted_images):
        (project / image_path(index, index // spec.images_per_class)).unlink()
    return written


def finetune(rng: random.Random, path: Path, spec: TreeSpec) -> int:
    """Overwrite one region in each of N equal segments of path; returns bytes overwritten."""
    size = path.stat().st_size
    segment = size // spec.v2_finetune_regions
    region = int(size * spec.v2_finetune_fraction) // spec.v2_finetune_regions // 4 * 4
    with path.open("r+b") as f:
        for i in range(spec.v2_finetune_regions):
            f.seek(i * segment + rng.randrange((segment - region) // 4 + 1) * 4)
            f.write(weight_bytes(rng, region))
    return region * spec.v2_finetune_regions


TINY_MIN_BYTES = 16
TINY_MAX_BYTES = 1024
FILES_PER_DIR = 100
DIRS_PER_SHARD = 100
LARGE_FILE_BYTES = 5 << 30
"""--large splits its total into files of at most this size."""


def tiny_file_path(index: int, flat: bool) -> str:
    """Where tiny file ``index`` lives: 100 per directory, 100 directories per shard (like a
    sharded dataset), or all in one directory with ``flat``."""
    if flat:
        return f"data/flat/f_{index:07d}.bin"
    shard, sub = index // (FILES_PER_DIR * DIRS_PER_SHARD), index // FILES_PER_DIR % DIRS_PER_SHARD
    return f"data/shard_{shard:03d}/{sub:02d}/f_{index:07d}.bin"


def generate_tiny_files(project: Path, count: int, flat: bool, seed: int) -> None:
    """Write ``count`` files of 16-1024 random bytes (os.open/os.write: ~12k files/s here)."""
    rng = random.Random(f"dvault-bench:{seed}:tiny")
    made: set[str] = set()
    for index in range(count):
        path = tiny_file_path(index, flat)
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(project / parent, exist_ok=True)
            made.add(parent)
        fd = os.open(project / path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, rng.randbytes(rng.randint(TINY_MIN_BYTES, TINY_MAX_BYTES)))
        finally:
            os.close(fd)


def large_file_sizes(total: int) -> list[int]:
    """Split ``total`` bytes into 2 or more files of at most LARGE_FILE_BYTES (multiples of
    4 KiB): several files, so that storing them can use every core."""
    count = max(2, -(-total // LARGE_FILE_BYTES))
    size = total // count // (4 * KiB) * (4 * KiB)
    return [size] * count


def generate_large_files(project: Path, total: int, seed: int) -> list[Path]:
    """Stream checkpoint-like files (float32 weights, ~6% compressible) of ``total`` bytes."""
    rng = random.Random(f"dvault-bench:{seed}:large")
    (project / "data").mkdir()
    paths = []
    for i, size in enumerate(large_file_sizes(total)):
        path = project / "data" / f"weights_{i:02d}.bin"
        write_weights(rng, path, size)
        paths.append(path)
    return paths


_CHANGES = itertools.count()


def change_one_file(path: Path) -> None:
    """The one-file change: overwrite 4 KiB in the middle (size unchanged, mtime moves), with
    new bytes on every call, so each tool in turn sees a real change."""
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 2 // 4096 * 4096)
        f.write(random.Random(f"{path}:{next(_CHANGES)}").randbytes(min(4096, size)))
