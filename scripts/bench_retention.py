#!/usr/bin/env python3
"""Benchmark of ``dvault remote du`` and ``dvault forget --dry-run`` on a long history.

A history of ``--commits`` commits (one an hour, each changing a small log and one of 50
small files) with an annotated tag every ``--tag-every`` commits is built through the
dvault API (untimed) and pushed to a directory remote and, with ``--s3``, to moto's S3
server on loopback. The timed steps run in a *second* project that holds none of those
objects, as an auditor's or a CI job's clone would: everything is read from the remote.

    python scripts/bench_retention.py                       # 2,000 commits, 200 tags
    python scripts/bench_retention.py --commits 500 --s3
    python scripts/bench.py --retention --s3                # the same, from the main script
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchlib.measure import Bench, Launcher
from benchlib.report import markdown_table

POLICY = ["--keep-last", "10", "--keep-daily", "7", "--keep-weekly", "4"]

BUILD = """
import os, random, sys, time
from pathlib import Path
from unittest import mock
from dvault.repo import Repo

root, n, every = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(0)
hour = 3600 * 10**9
start = time.time_ns() - n * hour
with Repo.init(root, at_git_root=False) as repo:
    data = root / "data"
    data.mkdir()
    for i in range(50):
        (data / f"part{i:02}.bin").write_bytes(rng.randbytes(2048))
    for i in range(n):
        (data / "log.txt").write_text(f"step {i}\\n")
        (data / f"part{i % 50:02}.bin").write_bytes(rng.randbytes(2048))
        repo.add([data])
        with mock.patch("time.time_ns", return_value=start + i * hour):
            repo.commit(f"step {i}")
        if i % every == every - 1:
            repo.tag(f"t{i}", message="bench")
"""


def _quiet(bench: Bench, *args: str, env: dict[str, str] | None = None) -> None:
    """An untimed dvault step that must succeed."""
    subprocess.run(
        [*bench.dvault_cmd, *args],
        cwd=bench.project,
        env=env or bench.dvault_env,
        check=True,
        capture_output=True,
    )


def _measure(
    launcher: Launcher,
    dvault: Path | None,
    workdir: Path,
    owner: Bench,
    kind: str,
    url: str,
    extra: Sequence[str],
    env: dict[str, str] | None,
) -> list[list[str]]:
    """Push the history to one remote, then time du and forget from a fresh reader."""
    _quiet(owner, "remote", "add", "--init", kind, url, *extra, env=env)
    _quiet(owner, "push", kind, "main", env=env)
    reader = workdir / f"reader-{kind}"
    reader.mkdir()
    bench = Bench(reader, launcher, dvault)
    bench.dvault_env = env or bench.dvault_env
    _quiet(bench, "init")
    _quiet(bench, "remote", "add", kind, url, *extra)
    rows: list[list[str]] = []
    for name, args in (
        ("remote du", ["remote", "du", kind]),
        ("remote du --policy", ["remote", "du", kind, "--policy", " ".join(POLICY)]),
        ("forget --dry-run", ["forget", kind, *POLICY, "--dry-run"]),
    ):
        step = bench.dvault(f"{name} ({kind})", *args, repeat=3)
        if step is None or not step.ok:
            return [*rows, [f"{name} ({kind})", "failed", ""]]
        rows.append([f"{name} ({kind})", f"{step.min_seconds:.2f}", f"{step.peak_rss_mib:.0f}"])
    return rows


def _with_moto(
    launcher: Launcher, dvault: Path | None, workdir: Path, owner: Bench
) -> list[list[str]]:
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("  !! --s3 needs moto[server] and boto3 (pip install -e '.[test]')", file=sys.stderr)
        return []
    from benchlib.scenarios import lean_moto_version_listing

    lean_moto_version_listing()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        creds = {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", **_keys(creds)
        ).create_bucket(Bucket="dvault-bench")
        env = {**(owner.dvault_env or os.environ), **creds}
        url = "s3://dvault-bench/history"
        return _measure(launcher, dvault, workdir, owner, "s3", url, ["--endpoint", endpoint], env)
    finally:
        server.stop()


def _keys(creds: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": creds["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": creds["AWS_SECRET_ACCESS_KEY"],
    }


def retention_benchmark(
    workdir: Path, launcher: Launcher, dvault: Path | None, commits: int, every: int, s3: bool
) -> int:
    """Build, push, measure; print one table; returns the process exit code."""
    project = workdir / "history"
    print(f"building {commits} commits (a tag every {every}) ...", file=sys.stderr)
    subprocess.run(
        [sys.executable, "-c", BUILD, str(project), str(commits), str(every)], check=True
    )
    owner = Bench(project, launcher, dvault)
    rows = _measure(launcher, dvault, workdir, owner, "dir", str(workdir / "remote"), [], None)
    if s3:
        rows += _with_moto(launcher, dvault, workdir, owner)
    print(f"\n## Retention: {commits} commits, {commits // every} tags, read from a fresh clone\n")
    print(markdown_table(["step", "min of 3 s", "peak RSS MiB"], rows))
    return 0 if all(row[1] != "failed" for row in rows) else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=2000, help="history length (2,000)")
    parser.add_argument("--tag-every", type=int, default=10, help="a tag every N commits")
    parser.add_argument("--s3", action="store_true", help="also moto's S3 server (loopback)")
    parser.add_argument("--dvault", type=Path, metavar="PATH", help="the dvault executable")
    parser.add_argument("--workdir", type=Path, help="work here (kept); default a temp dir")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dvault-bench-retention-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with Launcher() as launcher:
            return retention_benchmark(
                workdir, launcher, args.dvault, args.commits, args.tag_every, args.s3
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
