#!/usr/bin/env python3
"""End-to-end benchmark of the dvault command line on a synthetic ML project.

Generates a deterministic project (images, labels, a CSV, two float32 checkpoints), measures
physical baselines (cat, blake3, tar|zstd, untar; cat and blake3 of the pack files), then
drives the real ``dvault`` CLI through init / add / commit / status / checkout / verify
--read-data / push / clone, measuring wall time and peak RSS of every subprocess, and
verifies that checkouts and clones restore the exact bytes of each version. Each target
(benchlib/report.py's TARGETS: issue 23's among them) is a limit or a ratio to a baseline of
the same run, marked met or NOT MET in the table and in the JSON's ``targets``.

The pieces live in scripts/benchlib/ (measure, projects, scenarios, scale, report); this
file is the entry point.

Standard library only, so it runs in any environment that can run dvault itself.

    python scripts/bench.py --scale 0.05              # smoke test, a few seconds
    python scripts/bench.py --workdir /tmp/b --keep --json results.json
    python scripts/bench.py --files 100000            # tiny files, with DVC and restic
    python scripts/bench.py --large --large-gb 20     # large files, streamed
    python scripts/bench.py --merge                   # dvault merge at 20k and 100k files
    python scripts/bench.py --retention --s3          # remote du, forget on 2,000 commits
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchlib.measure import Bench, Launcher, MiB, rss_floor_mib, tree_size
from benchlib.projects import TreeSpec, generate_v1
from benchlib.report import outcomes, report
from benchlib.scale import PEER_MAX_FILES, scale_benchmark
from benchlib.scenarios import (
    probe_dvault,
    run_baselines,
    run_checkouts,
    run_remotes,
    run_verify,
    run_versioning,
)

# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply file counts and big-file sizes"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the generated data")
    parser.add_argument(
        "--dvault", type=Path, metavar="PATH", help="the dvault executable to measure"
    )
    parser.add_argument(
        "--s3", action="store_true", help="also measure an S3 remote (moto's server, loopback)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="where to generate (must be absent or empty); default: temp"
    )
    parser.add_argument("--keep", action="store_true", help="do not delete the workdir at the end")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write results as JSON here")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="time dvault merge (one directory per side) at --scale and 100k tiny files",
    )
    parser.add_argument(
        "--retention",
        action="store_true",
        help="time remote du and forget --dry-run on a 2,000-commit history (with --s3: S3 too)",
    )
    scale = parser.add_argument_group("scale modes (issue 7), instead of the ML project")
    mode = scale.add_mutually_exclusive_group()
    mode.add_argument("--files", type=int, metavar="N", help="N tiny files (up to 1,000,000)")
    mode.add_argument("--large", action="store_true", help="a few large files (--large-gb)")
    scale.add_argument("--flat", action="store_true", help="--files: all in one directory")
    scale.add_argument(
        "--large-gb",
        type=float,
        default=4.0,
        help="--large: total GiB (default 4; needs ~5x free, ~7x with peers)",
    )
    scale.add_argument("--no-peers", action="store_true", help="skip DVC and restic")
    scale.add_argument(
        "--peer-max-files",
        type=int,
        default=PEER_MAX_FILES,
        help=f"skip peers above this many files (default {PEER_MAX_FILES})",
    )
    scale.add_argument("--dvc", type=Path, metavar="PATH", help="DVC (default .venv-dvc, PATH)")
    scale.add_argument("--restic", type=Path, metavar="PATH", help="restic (default: PATH)")
    args = parser.parse_args(argv)
    for name in ("dvault", "dvc", "restic"):  # every step runs in another directory
        setattr(args, name, absolute_tool(getattr(args, name)))
    if args.files is not None and not 1 <= args.files <= 10_000_000:
        parser.error("--files must be between 1 and 10,000,000")
    return args


def absolute_tool(path: Path | None) -> Path | None:
    """``--dvault``/``--dvc``/``--restic`` as an absolute path: the steps run with the
    project (or a clone) as their directory, where a relative path names nothing (the
    step "exited 127"). A bare name is looked up on PATH, as a shell would."""
    if path is None:
        return None
    if os.sep not in str(path):
        found = shutil.which(str(path))
        if found is not None:
            return Path(found)
    return Path(os.path.abspath(path))


def prepare_workdir(requested: Path | None) -> Path:
    """Create the workdir; refuse a non-empty one so cleanup can never delete foreign files."""
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="dvault-bench-"))
    if requested.exists() and any(requested.iterdir()):
        sys.exit(f"--workdir {requested} is not empty; remove it or choose another path")
    requested.mkdir(parents=True, exist_ok=True)
    return requested.resolve()


def benchmark(args: argparse.Namespace, workdir: Path, launcher: Launcher) -> int:
    """Run all scenarios in workdir/project; returns the process exit code."""
    spec = TreeSpec.from_scale(args.scale)
    project = workdir / "project"
    project.mkdir()
    bench = Bench(project, launcher, args.dvault)

    print(f"generating v1 in {project} ...", file=sys.stderr)
    start = time.perf_counter()
    generate_v1(project, spec, args.seed)
    files, tree_bytes, _ = tree_size(project)
    bench.sizes["tree v1"] = tree_bytes
    elapsed = time.perf_counter() - start
    print(f"  {files} files, {tree_bytes / MiB:.1f} MiB in {elapsed:.1f} s", file=sys.stderr)

    manifests = {"v1": run_baselines(bench, workdir)}
    probe_dvault(bench)
    verification: dict[str, str] = {}
    if bench.dvault_available:  # otherwise leave the tree at v1, reusable via --keep
        manifests["v2"] = run_versioning(bench, spec, args.seed)
        verification = run_checkouts(bench, manifests)
        run_verify(bench)
        verification.update(run_remotes(bench, workdir, manifests, args.s3))

    floor_mib = rss_floor_mib(launcher)
    report(bench, verification, floor_mib)
    if args.json:
        results = {
            "config": {"scale": args.scale, "seed": args.seed, "dvault": bench.dvault_cmd},
            "host": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            "tree_v1": {"files": files, "bytes": tree_bytes},
            "rss_floor_mib": floor_mib,
            "dvault_available": bench.dvault_available,
            "steps": {name: step.to_json() for name, step in bench.steps.items()},
            "targets": [result.to_json() for result in outcomes(bench)],
            "sizes": bench.sizes,
            "verification": verification,
            "failures": bench.failures,
        }
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    mismatch = any(result != "OK" for result in verification.values())
    return 1 if bench.failures or mismatch else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = prepare_workdir(args.workdir)
    try:
        with Launcher() as launcher:
            if args.merge:
                from bench_merge import merge_benchmark  # the merge scenario's own script

                return merge_benchmark(
                    workdir, launcher, args.dvault, args.scale, args.files or 100_000, args.seed
                )
            if args.retention:
                from bench_retention import retention_benchmark  # its own script

                return retention_benchmark(workdir, launcher, args.dvault, 2000, 10, args.s3)
            if args.files is not None or args.large:
                return scale_benchmark(args, workdir, launcher)
            return benchmark(args, workdir, launcher)
    finally:
        if args.keep:
            print(f"\nkept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir)


if __name__ == "__main__":
    sys.exit(main())
