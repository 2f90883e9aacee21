"""A small project with two tagged versions and a directory remote holding both, built
through the library API, for the tests of reading versions (test_api.py, test_fsspec.py)."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dvault.repo import Repo

BIG = 3_000_000
"""A file this size is several content-defined chunks (average 256 KiB, at most 1 MiB)."""


@dataclass
class Versions:
    root: Path
    remote: Path
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    """rev -> path -> bytes, for every file of each version."""


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _parquet(rows: int, scale: int) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": list(range(rows)), "score": [i * scale for i in range(rows)]})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def build(base: Path) -> Versions:
    """v1, then v2 (a changed CSV, parquet and the middle of the big file); both pushed."""
    rng = random.Random(8)
    big = bytearray(rng.randbytes(BIG))
    v1 = {
        "data/labels.csv": b"path,label\na.png,cat\nb.png,dog\n",
        "data/table.parquet": _parquet(50, 1),
        "data/big.bin": bytes(big),
        "data/sub/a.txt": b"alpha\n",
        "data/sub/deeper/b.txt": b"beta\n",
    }
    big[BIG // 2 : BIG // 2 + 4096] = rng.randbytes(4096)
    v2 = dict(v1)
    v2.update(
        {
            "data/labels.csv": b"path,label\na.png,cat\nb.png,dog\nc.png,bird\n",
            "data/table.parquet": _parquet(60, 2),
            "data/big.bin": bytes(big),
        }
    )
    root = base / "proj"
    remote = base / "remote"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DVAULT_AUTHOR", "Test <test@example.com>")
        with Repo.init(root) as repo:
            _write(root, v1)
            os.symlink("labels.csv", root / "data" / "current.csv")
            repo.add([root / "data"], kind="dataset")
            repo.commit("v1")
            repo.tag("v1")
            _write(root, v2)
            repo.commit("v2", all=True)
            repo.tag("v2")
            repo.add_remote("origin", str(remote), init=True)
            repo.push("origin", ["main", "v1", "v2"])
    link = {"data/current.csv": b"labels.csv"}
    return Versions(root, remote, {"v1": {**v1, **link}, "v2": {**v2, **link}})
