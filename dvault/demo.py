"""``dvault demo``: the main job end to end on a generated ML project, no setup needed.

It builds a small project (images in class folders, JSON labels, a CSV, a float32
checkpoint), commits it, changes it the way ML work does (new images, relabels, a
fine-tune that rewrites 10% of the checkpoint), commits again, restores the first
version and checks every byte against a manifest taken before anything was stored.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

from blake3 import blake3

from dvault.errors import CheckFailed, UsageError
from dvault.repo import Repo

Echo = Callable[[str], None]


def _write_project(root: Path, rng: random.Random) -> None:
    for c in range(5):
        folder = root / "data" / "images" / f"class_{c}"
        folder.mkdir(parents=True)
        for i in range(40):
            (folder / f"img_{i:03}.jpg").write_bytes(rng.randbytes(rng.randint(2048, 16384)))
    labels = root / "data" / "labels"
    labels.mkdir(parents=True)
    for i in range(200):
        label = {"image": f"img_{i % 40:03}.jpg", "class": i % 5, "score": round(rng.random(), 4)}
        (labels / f"{i:04}.json").write_text(json.dumps(label))
    rows = [f"{i},{rng.random():.6f},class_{i % 5}" for i in range(20000)]
    (root / "data" / "train.csv").write_text("id,feature,label\n" + "\n".join(rows) + "\n")
    ckpt = root / "checkpoints"
    ckpt.mkdir()
    weights = struct.pack(f"<{1 << 21}f", *(rng.gauss(0, 0.02) for _ in range(1 << 21)))
    (ckpt / "model.bin").write_bytes(weights)  # 8 MiB of float32


def _change_project(root: Path, rng: random.Random) -> None:
    for i in range(40, 50):
        (root / "data" / "images" / "class_0" / f"img_{i:03}.jpg").write_bytes(rng.randbytes(4096))
    for i in range(0, 200, 10):
        path = root / "data" / "labels" / f"{i:04}.json"
        label = json.loads(path.read_text())
        label["class"] = (label["class"] + 1) % 5
        path.write_text(json.dumps(label))
    (root / "data" / "images" / "class_4" / "img_000.jpg").unlink()
    model = root / "checkpoints" / "model.bin"
    with open(model, "r+b") as f:  # "fine-tune": rewrite 10% of the weights in place
        size = f.seek(0, os.SEEK_END)
        f.seek(size // 2)
        f.write(rng.randbytes(size // 10))


def manifest(root: Path) -> dict[str, str]:
    """blake3 of every file under data/ and checkpoints/, by relative path."""
    out = {}
    for top in ("data", "checkpoints"):
        for path in sorted((root / top).rglob("*")):
            if path.is_file():
                out[path.relative_to(root).as_posix()] = blake3(path.read_bytes()).hexdigest()
    return out


def _store_size(repo: Repo) -> int:
    return sum(p.stat().st_size for p in (repo.dir / "packs").glob("*.pack"))


def run_demo(root: Path, echo: Echo) -> None:
    if root.exists() and any(root.iterdir()):
        if not (root / ".dvault-demo").exists():
            raise UsageError(f"{root} exists and is not an earlier dvault demo; pick another path")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / ".dvault-demo").write_text("created by dvault demo\n")
    rng = random.Random(2026)
    echo(f"1. generating a small ML project in {root}")
    _write_project(root, rng)
    v1 = manifest(root)

    repo = Repo.init(root)
    with repo:
        echo("2. dvault init; dvault add data checkpoints; dvault commit -m 'v1'")
        repo.add([root / "data", root / "checkpoints"])
        first = repo.commit("v1: 200 images, 200 labels, a CSV and an 8 MiB checkpoint")
        repo.tag("v1", message="baseline dataset")
        size_v1 = _store_size(repo)
        echo(f"   commit {first.hex()[:12]}, tagged v1; store {size_v1 / 2**20:.1f} MiB")

        echo("3. new images, relabels, a deleted image, a fine-tune rewriting 10% of the model")
        _change_project(root, rng)
        v2 = manifest(root)
        st = repo.status()
        echo(
            f"   status: {len(st.modified)} modified, {len(st.deleted)} deleted, "
            f"{len(st.untracked)} new"
        )
        second = repo.commit("v2: relabels and fine-tuned model", all=True)
        repo.tag("v2")
        growth = _store_size(repo) - size_v1
        echo(
            f"   commit {second.hex()[:12]}, tagged v2; store grew {growth / 2**20:.2f} MiB "
            "(chunking stored only the changed part of the checkpoint)"
        )

        for step, (name, expected) in enumerate((("v1", v1), ("main", v2)), start=4):
            report = repo.checkout(name)
            got = manifest(root)
            if got != expected:
                bad = sorted(
                    k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k)
                )
                raise CheckFailed(f"demo: checkout {name} differs in {len(bad)} files: {bad[:5]}")
            echo(
                f"{step}. checkout {name}: {report.written} written, {report.removed} removed; "
                f"all {len(expected)} files match {name} byte for byte"
            )
    echo(f"done. Explore it: cd {root} && dvault log --oneline && dvault diff v1 v2 --stat")
