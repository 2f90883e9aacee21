#!/usr/bin/env python3
"""Benchmark of ``dvault merge`` (issue 19): two branches, each changing one directory.

At each size — the benchmark project (``bench.py``'s ML project, ~20k files) and 100k
tiny files — the data is committed once, a branch ``side`` rewrites every file of one
directory and adds one, ``main`` does the same to another directory, and ``dvault merge
side`` (a real three-way merge, a merge commit) is timed, with its peak RSS. The merge
should cost what differs — two directories — not the dataset: the figure to compare it
with is ``status`` on the same tree. The merged workspace is checked byte for byte.

    python scripts/bench_merge.py                    # both sizes
    python scripts/bench_merge.py --tiny 20000 --scale 0.1 --keep --workdir /tmp/m
    python scripts/bench.py --merge                  # the same, from the main script
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchlib.measure import Bench, Launcher
from benchlib.projects import TreeSpec, generate_tiny_files, generate_v1
from benchlib.report import markdown_table


def rewrite_directory(directory: Path, tag: str) -> dict[str, str]:
    """New bytes (same sizes) for every file directly in ``directory``, plus one new file;
    returns the sha256 of each file written, by path."""
    rng = random.Random(f"dvault-bench-merge:{tag}")
    written = {}
    files = sorted(p for p in directory.iterdir() if p.is_file())
    for path in [*files, directory / f"new_{tag}.bin"]:
        data = rng.randbytes(path.stat().st_size if path.exists() else 4096)
        path.write_bytes(data)
        written[str(path)] = hashlib.sha256(data).hexdigest()
    return written


def _quiet(bench: Bench, *args: str) -> None:
    """An untimed dvault step that must succeed (setting up the branches)."""
    subprocess.run(
        [*bench.dvault_cmd, *args],
        cwd=bench.project,
        env=bench.dvault_env,
        check=True,
        capture_output=True,
    )


def run_merge(bench: Bench, label: str, ours_dir: str, theirs_dir: str) -> tuple[list[str], bool]:
    """Commit the tree, diverge (one directory per side), time the merge; returns the
    table row and whether the merged workspace holds both sides' bytes."""
    start = time.perf_counter()
    _quiet(bench, "init")
    _quiet(bench, "add", "data")
    _quiet(bench, "commit", "-m", "base")
    setup = time.perf_counter() - start
    print(f"  {label}: add+commit {setup:.1f} s", file=sys.stderr)
    _quiet(bench, "branch", "side")
    _quiet(bench, "checkout", "side")
    theirs = rewrite_directory(bench.project / theirs_dir, "theirs")
    _quiet(bench, "commit", "-a", "-m", "side: one directory")
    _quiet(bench, "checkout", "main")
    ours = rewrite_directory(bench.project / ours_dir, "ours")
    _quiet(bench, "commit", "-a", "-m", "main: another directory")
    status = bench.dvault(f"status clean ({label})", "status", repeat=3)
    merge = bench.dvault(f"merge ({label})", "merge", "side", "-m", "join")
    good = all(
        hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
        for path, digest in {**ours, **theirs}.items()
    )
    row = [
        label,
        f"{merge.seconds:.3f}" if merge is not None and merge.ok else "FAILED",
        f"{merge.peak_rss_mib:.0f}" if merge is not None else "",
        f"{status.seconds:.3f}" if status is not None and status.ok else "",
        "OK" if good else "MISMATCH",
    ]
    return row, good and merge is not None and merge.ok


def merge_benchmark(
    workdir: Path, launcher: Launcher, dvault: Path | None, scale: float, tiny: int, seed: int
) -> int:
    """Both sizes, one table; returns the process exit code."""
    sizes: list[tuple[str, Callable[[Path], None], str, str]] = [
        (
            f"ML project (scale {scale:g})",
            lambda p: generate_v1(p, TreeSpec.from_scale(scale), seed),
            "data/images/cls_000",
            "data/images/cls_001",
        ),
        (
            f"{tiny} tiny files",
            lambda p: generate_tiny_files(p, tiny, False, seed),
            "data/shard_000/00",
            "data/shard_000/01",
        ),
    ]
    rows, ok = [], True
    for label, generate, ours_dir, theirs_dir in sizes:
        project = workdir / label.split()[0].lower()
        project.mkdir()
        print(f"generating {label} ...", file=sys.stderr)
        generate(project)
        files = sum(1 for p in (project / "data").rglob("*") if p.is_file())
        bench = Bench(project, launcher, dvault)
        row, good = run_merge(bench, f"{files} files", ours_dir, theirs_dir)
        rows.append(row)
        ok = ok and good
    print("\n## dvault merge, one directory changed per side\n")
    headers = ["tree", "merge s", "merge peak RSS MiB", "status clean s", "merged bytes"]
    print(markdown_table(headers, rows))
    return 0 if ok else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="ML project scale (1.0: ~20k)")
    parser.add_argument("--tiny", type=int, default=100_000, help="tiny files (default 100k)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dvault", type=Path, metavar="PATH", help="the dvault executable")
    parser.add_argument("--workdir", type=Path, help="where to generate (absent or empty)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir")
    args = parser.parse_args(argv)
    if args.dvault is not None:
        args.dvault = args.dvault.absolute()  # the steps run inside the project
    if args.scale < 0.02:
        parser.error("--scale must be at least 0.02 (two image directories)")
    if not 200 <= args.tiny <= 10_000_000:
        parser.error("--tiny must be between 200 and 10,000,000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.workdir is not None and args.workdir.exists() and any(args.workdir.iterdir()):
        sys.exit(f"--workdir {args.workdir} is not empty")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dvault-bench-merge-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with Launcher() as launcher:
            return merge_benchmark(
                workdir.resolve(), launcher, args.dvault, args.scale, args.tiny, args.seed
            )
    finally:
        if args.keep:
            print(f"\nkept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir)


if __name__ == "__main__":
    sys.exit(main())
