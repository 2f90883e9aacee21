#!/usr/bin/env python3
"""End-to-end benchmark of the dvault command line on a synthetic ML project.

Generates a deterministic project (images, labels, a CSV, two float32 checkpoints), measures
physical baselines (cat, blake3, tar|zstd, untar), then drives the real ``dvault`` CLI through
init / add / commit / status / checkout, measuring wall time and peak RSS of every subprocess,
and verifies that checkouts restore the exact bytes of each version.

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
import compileall
import itertools
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self, TextIO

KiB = 1 << 10
MiB = 1 << 20
WRITE_BLOCK = 4 * MiB
# ru_maxrss is in KiB on Linux but in bytes on macOS.
MAXRSS_BYTES = 1 if sys.platform == "darwin" else KiB
REPO_ROOT = Path(__file__).resolve().parent.parent

# Targets the table compares against (seconds / MiB); tune them here.
STATUS_CLEAN_TARGET_S = 0.2
STATUS_CHANGED_TARGET_S = 0.4
CHECKOUT_TARGET_S = 1.5
STORE_GROWTH_TARGET_MIB = 30.0
PUSH_INCREMENTAL_TARGET_S = 0.5

# Hashes every file under the given roots, like the verification needs and like a fast dvault
# would: blake3 with all cores, 1 MiB reads. Runs as a subprocess so it is measured like dvault.
HASH_SCRIPT = """
import os, sys, blake3
buf = bytearray(1 << 20)
view = memoryview(buf)
for root in sys.argv[1:]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
            with open(path, "rb", buffering=0) as f:
                while n := f.readinto(buf):
                    hasher.update(view[:n])
            sys.stdout.write(f"{path}\\t{hasher.hexdigest()}\\n")
"""

# The helper behind Launcher: reads one JSON request per line, runs it, replies with wall time,
# the child's own rusage from wait4, and the peak summed RSS of its process tree. wait4's
# ru_maxrss covers the child and the descendants it waited for, but as a *maximum* over them
# (so does RUSAGE_CHILDREN): two workers of 200 MiB each read as 200 MiB. The tree's total is
# therefore sampled from /proc every 20 ms (Linux only; shared pages count once per process,
# so the sum errs on the high side).
LAUNCHER_SCRIPT = """
import json, os, subprocess, sys, threading, time
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

def tree_rss_kib(root):
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE_KIB
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return total

for line in sys.stdin:
    req = json.loads(line)
    with open(req["out"], "wb") as out, open(req["err"], "wb") as err:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(req["cmd"], cwd=req["cwd"], env=req["env"],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        except OSError as e:
            err.write(str(e).encode())
            reply = {"seconds": 0.0, "maxrss": 0, "tree_rss": 0, "returncode": 127}
        else:
            peak, done = [0], threading.Event()

            def sample(pid=proc.pid):
                while not done.wait(0.02):
                    peak[0] = max(peak[0], tree_rss_kib(pid))

            sampler = threading.Thread(target=sample)
            sampler.start()
            _, status, usage = os.wait4(proc.pid, 0)  # blocking: the wall time stays exact
            done.set()
            sampler.join()
            proc.returncode = os.waitstatus_to_exitcode(status)
            reply = {"seconds": time.perf_counter() - start, "maxrss": usage.ru_maxrss,
                     "tree_rss": peak[0], "returncode": proc.returncode}
    print(json.dumps(reply), flush=True)
"""

TREE_ROOTS = ("data", "checkpoints")


# --------------------------------------------------------------------------- measurement


@dataclass(frozen=True)
class Run:
    """One finished subprocess: what it cost and what it said."""

    seconds: float
    peak_rss_mib: float
    """Largest single process (wait4's ru_maxrss)."""
    returncode: int
    stdout: str
    stderr: str
    tree_rss_mib: float = 0.0
    """Peak of the process tree's summed RSS, sampled every 20 ms (0 where /proc is absent)."""

    @property
    def memory_mib(self) -> float:
        """The memory the command needed: the tree's sampled sum, or the single-process
        peak when that is higher (a step too short to be sampled)."""
        return max(self.peak_rss_mib, self.tree_rss_mib)


@dataclass
class Step:
    """A named measurement, possibly repeated so noisy steps can report median and min."""

    name: str
    runs: list[Run]

    @property
    def ok(self) -> bool:
        return all(run.returncode == 0 for run in self.runs)

    @property
    def seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def min_seconds(self) -> float:
        return min(run.seconds for run in self.runs)

    @property
    def peak_rss_mib(self) -> float:
        return max(run.peak_rss_mib for run in self.runs)

    @property
    def memory_mib(self) -> float:
        return max(run.memory_mib for run in self.runs)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "seconds": self.seconds,
            "min_seconds": self.min_seconds,
            "peak_rss_mib": self.peak_rss_mib,
            "tree_rss_mib": self.memory_mib,
            "runs": [
                {
                    "seconds": r.seconds,
                    "peak_rss_mib": r.peak_rss_mib,
                    "tree_rss_mib": r.tree_rss_mib,
                    "returncode": r.returncode,
                }
                for r in self.runs
            ],
        }


class Launcher:
    """Runs measured commands from a small helper process and reports their own peak RSS.

    Linux seeds a child's ru_maxrss with the high-water mark of the memory image it was forked
    (or vforked) from. Spawning from this script, whose memory grows with buffers and manifests,
    inflated small readings (24 -> 33 MiB for the same dvault command); the helper only
    launches, so the floor stays at a fresh interpreter's size (see rss_floor_mib).
    """

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()

    def measure(self, cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
        """Run cmd to completion in cwd; output is captured to files so it cannot block."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with tempfile.TemporaryDirectory() as tmp:
            out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
            request = {
                "cmd": list(cmd),
                "cwd": str(cwd),
                "env": env,
                "out": str(out),
                "err": str(err),
            }
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            reply = self.proc.stdout.readline()
            if not reply:
                raise RuntimeError("measurement launcher exited unexpectedly")
            result = json.loads(reply)
            return Run(
                seconds=result["seconds"],
                peak_rss_mib=result["maxrss"] * MAXRSS_BYTES / MiB,
                returncode=result["returncode"],
                stdout=out.read_text(errors="replace"),
                stderr=err.read_text(errors="replace"),
                tree_rss_mib=result["tree_rss"] * KiB / MiB,
            )


def rss_floor_mib(launcher: Launcher) -> float:
    """Peak RSS reported for `true`: readings near this say nothing about the command."""
    return launcher.measure(["true"], Path.cwd()).peak_rss_mib


def shell(script: str) -> list[str]:
    """A bash pipeline command that fails if any stage fails, not just the last one."""
    return ["bash", "-c", f"set -euo pipefail; {script}"]


def hash_command(roots: Sequence[str] = TREE_ROOTS) -> list[str]:
    """The blake3 manifest command over the project tree (used for baseline and verification)."""
    return [sys.executable, "-c", HASH_SCRIPT, *roots]


def parse_manifest(stdout: str) -> dict[str, str]:
    """Map path -> blake3 hex from HASH_SCRIPT output."""
    return dict(line.split("\t", 1) for line in stdout.splitlines())


def compile_bytecode(package: Path) -> None:
    """Write the package's .pyc files, as ``pip install`` does, before anything is timed.

    Without them (a fresh checkout, or PYTHONDONTWRITEBYTECODE=1 in the environment, as on
    the CI machines) every dvault start recompiles its modules from source, and each step
    pays 30-60 ms that grows with the size of the code rather than with the work the step
    does. Figures recorded before issue 17 included that cost.
    """
    compileall.compile_dir(str(package), quiet=1)


def find_dvault(explicit: Path | None = None) -> tuple[list[str], dict[str, str] | None]:
    """The dvault CLI command and environment: ``--dvault``, else the venv's console script,
    else ``-m dvault``. A regular (non-editable) install starts ~10 ms faster than an
    editable one, whose import hook runs on every start; the recorded figures use one.

    The fallback puts the repo root on PYTHONPATH so an uninstalled checkout still works even
    though steps run with the project directory as cwd.
    """
    if explicit is not None:
        python = explicit.parent / "python"
        if python.exists():  # the measured install's own package, compiled as pip would
            found = subprocess.run(
                [
                    str(python),
                    "-I",
                    "-c",
                    "import dvault, os; print(os.path.dirname(dvault.__file__))",
                ],
                capture_output=True,
                text=True,
            )
            if found.returncode == 0:
                compile_bytecode(Path(found.stdout.strip()))
        return [str(explicit)], None
    compile_bytecode(REPO_ROOT / "dvault")
    script = Path(sys.executable).parent / "dvault"
    if script.exists():
        return [str(script)], None
    pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return [sys.executable, "-m", "dvault"], {**os.environ, "PYTHONPATH": pythonpath}


class Bench:
    """Runs and records steps in one project dir; dvault steps are skipped if the CLI is absent."""

    def __init__(self, project: Path, launcher: Launcher, dvault: Path | None = None) -> None:
        self.project = project
        self.launcher = launcher
        self.dvault_cmd, self.dvault_env = find_dvault(dvault)
        self.dvault_available = True
        self._remote_add: list[str] | None = None
        self.steps: dict[str, Step] = {}
        self.failures: list[str] = []
        # Named byte counts (apparent size) for the storage table and the JSON results.
        self.sizes: dict[str, int] = {}

    def remote_add(self) -> list[str]:
        """``dvault remote add``, with ``--init`` where this dvault has it (a directory
        remote must exist since issue 20; an older dvault, measured for comparison,
        creates it on the first push)."""
        if self._remote_add is None:
            helped = subprocess.run(
                [*self.dvault_cmd, "remote", "add", "--help"],
                env=self.dvault_env,
                capture_output=True,
                text=True,
            )
            init = ["--init"] if "--init" in helped.stdout else []
            self._remote_add = [*self.dvault_cmd, "remote", "add", *init]
        return self._remote_add

    def run(
        self,
        name: str,
        cmd: Sequence[str],
        repeat: int = 1,
        env: dict[str, str] | None = None,
        before: Callable[[], None] | None = None,
    ) -> Step:
        """Measure cmd `repeat` times as step `name`, reporting failures without stopping.

        ``before`` runs untimed ahead of every repetition (to reset state). Dirty pages are
        flushed first so a step never pays for writeback of earlier writes.
        """
        runs = []
        for _ in range(repeat):
            if before is not None:
                before()
            os.sync()
            runs.append(self.launcher.measure(cmd, self.project, env))
        step = Step(name, runs)
        self.steps[name] = step
        rss = f"{step.peak_rss_mib:7.1f} MiB (tree {step.memory_mib:.1f})"
        print(f"  {name:<28} {step.seconds:9.3f} s {rss}", file=sys.stderr, flush=True)
        if not step.ok:
            self.failures.append(name)
            failed = next(run for run in step.runs if run.returncode != 0)
            print(f"  !! {name} exited {failed.returncode}; stderr tail:", file=sys.stderr)
            for line in failed.stderr.strip().splitlines()[-20:]:
                print(f"     {line}", file=sys.stderr)
        return step

    def dvault(
        self, name: str, *args: str, repeat: int = 1, before: Callable[[], None] | None = None
    ) -> Step | None:
        """Run a dvault subcommand as a step, or skip it when the CLI could not be started."""
        if not self.dvault_available:
            return None
        cmd = [*self.dvault_cmd, *args]
        return self.run(name, cmd, repeat=repeat, env=self.dvault_env, before=before)

    def fresh_repository(self) -> None:
        """Delete .dvault and init again (untimed), so `add` can be measured repeatedly."""
        shutil.rmtree(self.project / ".dvault", ignore_errors=True)
        subprocess.run(
            [*self.dvault_cmd, "init"],
            cwd=self.project,
            env=self.dvault_env,
            check=True,
            capture_output=True,
        )


# --------------------------------------------------------------------------- data generation


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


def tree_size(root: Path) -> tuple[int, int, int]:
    """(files, apparent bytes, allocated bytes) under root; zeros if it does not exist."""
    files = apparent = allocated = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            files += 1
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return files, apparent, allocated


# --------------------------------------------------------------------------- scenarios


def run_baselines(bench: Bench, workdir: Path) -> dict[str, str]:
    """Physical lower bounds on the warm v1 tree; returns the v1 manifest from the blake3 run."""
    roots = " ".join(TREE_ROOTS)
    cat = shell(f"find {roots} -type f -print0 | xargs -0 cat > /dev/null")
    bench.launcher.measure(
        cat, bench.project
    )  # warm the page cache so every step reads from memory
    bench.run("baseline cat", cat)
    manifest = parse_manifest(bench.run("baseline blake3", hash_command()).runs[0].stdout)
    archive, untar_dir = workdir / "baseline.tar.zst", workdir / "untar"
    quoted, untar_quoted = shlex.quote(str(archive)), shlex.quote(str(untar_dir))
    tar_cmd = shell(f"rm -f {quoted}; tar -cf - {roots} | zstd -1 -T0 -q -o {quoted}")
    tar = bench.run("baseline tar|zstd", tar_cmd, repeat=3)  # the disk is noisy: median of 3
    if tar.ok:
        bench.sizes["tar.zst archive"] = archive.stat().st_size

        def fresh_untar_dir() -> None:
            shutil.rmtree(untar_dir, ignore_errors=True)
            untar_dir.mkdir()

        untar = shell(f"zstd -d -q -c {quoted} | tar -xf - -C {untar_quoted}")
        bench.run("baseline untar", untar, repeat=3, before=fresh_untar_dir)  # noisy disk
        shutil.rmtree(untar_dir)
    archive.unlink(missing_ok=True)
    return manifest


def probe_dvault(bench: Bench) -> None:
    """Time `dvault --help` (startup) and disable dvault steps if the CLI does not start."""
    step = bench.dvault("dvault --help", "--help", repeat=3)
    if step is not None and not step.ok:
        bench.dvault_available = False
        print("  !! dvault CLI unavailable; skipping dvault steps", file=sys.stderr)


def record_store_size(bench: Bench, version: str) -> None:
    """Record .dvault's apparent and allocated size (allocated shows sparse/preallocated files)."""
    _, apparent, allocated = tree_size(bench.project / ".dvault")
    bench.sizes[f".dvault after {version}"] = apparent
    bench.sizes[f".dvault after {version} (allocated)"] = allocated


def run_versioning(bench: Bench, spec: TreeSpec, seed: int) -> dict[str, str]:
    """init/add/commit v1, status, apply v2, status, commit v2; returns the v2 manifest."""
    bench.dvault("init", "init")
    # median of 3 fresh adds, like the tar|zstd baseline; the last one is kept for commit
    bench.dvault("add", "add", *TREE_ROOTS, repeat=3, before=bench.fresh_repository)
    bench.dvault("commit v1", "commit", "-m", "v1")
    bench.dvault("tag v1", "tag", "v1")
    record_store_size(bench, "v1")
    bench.dvault("status clean", "status", repeat=3)

    start = time.perf_counter()
    bench.sizes["new content in v2"] = apply_v2(bench.project, spec, seed)
    print(f"  applied v2 changes in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    manifest = parse_manifest(bench.launcher.measure(hash_command(), bench.project).stdout)

    bench.dvault("status changed", "status", repeat=3)
    bench.dvault("commit -a v2", "commit", "-a", "-m", "v2")
    bench.dvault("tag v2", "tag", "v2")
    record_store_size(bench, "v2")
    growth = bench.sizes[".dvault after v2"] - bench.sizes[".dvault after v1"]
    bench.sizes["store growth v1->v2"] = growth
    return manifest


def run_checkouts(bench: Bench, manifests: dict[str, dict[str, str]]) -> dict[str, str]:
    """Switch v1 -> v2 -> v1 -> v2, checking every file's hash after each switch."""
    verification: dict[str, str] = {}
    for i, tag in enumerate(("v1", "v2", "v1", "v2")):
        name = f"checkout {tag} #{i // 2 + 1}"
        if bench.dvault(name, "checkout", tag) is None:
            continue
        actual = parse_manifest(bench.launcher.measure(hash_command(), bench.project).stdout)
        expected = manifests[tag]
        bad = sorted(p for p in expected.keys() | actual.keys() if expected.get(p) != actual.get(p))
        verification[name] = "OK" if not bad else f"MISMATCH ({len(bad)} files, e.g. {bad[0]})"
        print(f"  verify after {name}: {verification[name]}", file=sys.stderr)
    return verification


def _verify_tree(bench: Bench, root: Path, expected: dict[str, str], name: str) -> str:
    actual = parse_manifest(bench.launcher.measure(hash_command(), root).stdout)
    bad = sorted(p for p in expected.keys() | actual.keys() if expected.get(p) != actual.get(p))
    result = "OK" if not bad else f"MISMATCH ({len(bad)} files, e.g. {bad[0]})"
    print(f"  verify after {name}: {result}", file=sys.stderr)
    return result


def run_remote(
    bench: Bench,
    workdir: Path,
    manifests: dict[str, dict[str, str]],
    kind: str,
    url: str,
    extra: Sequence[str] = (),
) -> dict[str, str]:
    """Push v1, push v2 incrementally, push nothing, clone: against one remote."""
    if not bench.dvault_available:
        return {}
    subprocess.run(
        [*bench.remote_add(), kind, url, *extra],
        cwd=bench.project,
        env=bench.dvault_env,
        check=True,
        capture_output=True,
    )
    bench.dvault(f"push v1 ({kind})", "push", kind, "v1")
    bench.dvault(f"push v2 incremental ({kind})", "push", kind, "main")
    bench.dvault(f"push nothing new ({kind})", "push", kind, "main")
    dest = workdir / f"clone-{kind}"
    step = bench.dvault(
        f"clone v2 ({kind})",
        "clone",
        url,
        str(dest),
        *extra,
        repeat=3,
        before=lambda: shutil.rmtree(dest, ignore_errors=True),
    )
    verification = {}
    if step is not None and step.ok:
        verification[f"clone v2 ({kind})"] = _verify_tree(bench, dest, manifests["v2"], kind)
    shutil.rmtree(dest, ignore_errors=True)
    return verification


def run_remotes(
    bench: Bench, workdir: Path, manifests: dict[str, dict[str, str]], s3: bool
) -> dict[str, str]:
    """Remote scenarios: a directory remote, and with ``s3`` moto's S3 server on loopback."""
    packs = bench.project / ".dvault" / "packs"
    copy = workdir / "packs-copy"
    bench.run(
        "baseline cp packs",
        ["cp", "-r", str(packs), str(copy)],
        repeat=3,
        before=lambda: shutil.rmtree(copy, ignore_errors=True),
    )
    shutil.rmtree(copy, ignore_errors=True)
    verification = run_remote(bench, workdir, manifests, "dir", str(workdir / "remote"))
    if s3:
        verification.update(_run_s3(bench, workdir, manifests))
    return verification


def _lean_moto_version_listing() -> None:
    """moto's ListObjectVersions deep-copies every version in the bucket, *bytes
    included*, on each call (5 s per listing of a 600 MiB bucket on the 2-core machine);
    AWS answers it like ListObjectsV2. dvault lists with versions since issue 17 (a
    replaced object is read at its first version), so the bench gives moto a copy of a
    key's attributes only (size, ETag, dates; not its bytes, which a listing never reads):
    the S3 figures then measure dvault, not the test server."""
    import io

    from moto.s3.models import FakeKey

    def shallow(self: object, _memo: object) -> object:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.__dict__.update(_value_buffer=io.BytesIO(), disposed=True)
        return clone

    FakeKey.__deepcopy__ = shallow  # type: ignore[attr-defined]


def _run_s3(bench: Bench, workdir: Path, manifests: dict[str, dict[str, str]]) -> dict[str, str]:
    """The remote scenarios against moto's S3 server in this process (real HTTP on loopback)."""
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("  !! --s3 needs moto[server] and boto3 (pip install -e '.[test]')", file=sys.stderr)
        return {}
    _lean_moto_version_listing()
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
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        client.create_bucket(Bucket="dvault-bench", ObjectLockEnabledForBucket=True)
        saved = bench.dvault_env
        bench.dvault_env = {**(saved or os.environ), **creds}
        try:
            return run_remote(
                bench,
                workdir,
                manifests,
                "s3",
                "s3://dvault-bench/project",
                ["--endpoint", endpoint],
            )
        finally:
            bench.dvault_env = saved
    finally:
        server.stop()


# --------------------------------------------------------------------------- scale modes
#
# --files N: N tiny files (issue 7's one-million-file case); --large: a few huge files. Both
# run the same dvault steps and, where installed, the same steps of DVC and restic on the
# same tree, and report ratios.

TINY_MIN_BYTES = 16
TINY_MAX_BYTES = 1024
FILES_PER_DIR = 100
DIRS_PER_SHARD = 100
PEER_MAX_FILES = 100_000
"""Peers stop here: DVC takes far too long at a million files (hours, per issue 7)."""
LARGE_FILE_BYTES = 5 << 30
"""--large splits its total into files of at most this size."""
STORE_COPIES = 5
"""--large needs free disk for this many copies of the tree: the tree, dvault's store, its
remote and its clone (store + files); the peers need two more (see PEER_COPIES)."""
PEER_COPIES = 2
"""DVC's cache and remote, or restic's repository (dvault's store is deleted by then)."""

# blake3 of every byte (all cores) and zstd -1 of every byte (both cores) in one stream:
# the physical floor of add on large files, which must do both and chunk as well.
HASH_COMPRESS_SCRIPT = """
import sys, blake3, zstandard
buf = bytearray(4 << 20)
view = memoryview(buf)
cctx = zstandard.ZstdCompressor(level=1, threads=-1)
for path in sys.argv[1:]:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    comp = cctx.compressobj()
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            hasher.update(view[:n])
            comp.compress(view[:n])
    comp.flush()
    print(path, hasher.hexdigest())
"""


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


def find_peer(name: str, explicit: Path | None) -> str | None:
    """The peer's executable: ``--dvc``/``--restic``, else .venv-dvc/bin (DVC), else PATH."""
    if explicit is not None:
        return str(explicit) if explicit.exists() else None
    local = REPO_ROOT / f".venv-{name}" / "bin" / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def run_scale_dvault(
    bench: Bench, workdir: Path, changed: Path, add_repeat: int = 1
) -> dict[str, str]:
    """The issue-7 steps for dvault on ``data``: one full version, then a one-file change.

    ``add_repeat`` > 1 measures the add that many times into a fresh repository (median),
    as --large does: one add there takes seconds and the machine's noise is ±10%."""
    manifest_v1 = parse_manifest(
        bench.launcher.measure(hash_command(["data"]), bench.project).stdout
    )
    bench.dvault("init", "init")
    before = bench.fresh_repository if add_repeat > 1 else None
    bench.dvault("add", "add", "data", repeat=add_repeat, before=before)
    bench.dvault("commit v1", "commit", "-m", "v1")
    bench.dvault("tag v1", "tag", "v1")
    record_store_size(bench, "v1")
    bench.dvault("status clean", "status", repeat=3)
    change_one_file(changed)
    # the first status after the change reads the file; later ones use the hash cache
    bench.dvault("status one change", "status")
    bench.dvault("status one change, again", "status", repeat=2)
    bench.dvault("commit -a one change", "commit", "-a", "-m", "v2")
    bench.dvault("tag v2", "tag", "v2")
    manifest_v2 = dict(manifest_v1)
    rel = changed.relative_to(bench.project).as_posix()
    parent = os.path.dirname(rel)  # HASH_SCRIPT walks directories
    manifest_v2.update(
        parse_manifest(bench.launcher.measure(hash_command([parent]), bench.project).stdout)
    )
    bench.dvault("checkout one change (v1)", "checkout", "v1")
    bench.dvault("checkout one change (v2)", "checkout", "v2")
    verification = {"after checkouts": _verify_tree(bench, bench.project, manifest_v2, "checkouts")}
    remote = workdir / "remote"
    subprocess.run(
        [*bench.remote_add(), "dir", str(remote)],
        cwd=bench.project,
        env=bench.dvault_env,
        check=True,
        capture_output=True,
    )
    bench.dvault("push (dir)", "push", "dir", "main")
    dest = workdir / "clone"
    step = bench.dvault("clone (dir)", "clone", str(remote), str(dest))
    if step is not None and step.ok:
        verification["clone"] = _verify_tree(bench, dest, manifest_v2, "clone")
    shutil.rmtree(dest, ignore_errors=True)
    bench.dvault("verify", "verify")
    record_store_size(bench, "v2")
    return verification


def run_scale_dvc(bench: Bench, workdir: Path, dvc: str, changed: Path) -> None:
    """DVC's closest steps on the same tree: add (hash + copy into its cache + .dvc file),
    status, re-add after a one-file change, checkout of the previous .dvc, push."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    bench.run("dvc init", [dvc, "init", "--no-scm", "-q"], env=env)
    bench.run("dvc add", [dvc, "add", "-q", "data"], env=env)
    bench.run("dvc status clean", [dvc, "status", "-q"], repeat=3, env=env)
    old = (bench.project / "data.dvc").read_bytes()
    change_one_file(changed)
    # dvc status exits 1 when something changed: wrap it so only a failure counts as one
    changed_status = shell(f"{shlex.quote(dvc)} status -q || [ $? -eq 1 ]")
    bench.run("dvc status one change", changed_status, env=env)
    bench.run("dvc add one change", [dvc, "add", "-q", "data"], env=env)
    new = (bench.project / "data.dvc").read_bytes()
    (bench.project / "data.dvc").write_bytes(old)
    bench.run("dvc checkout one change", [dvc, "checkout", "-q", "data.dvc"], env=env)
    (bench.project / "data.dvc").write_bytes(new)
    subprocess.run(
        [dvc, "remote", "add", "-d", "bench", str(workdir / "dvc-remote")],
        cwd=bench.project,
        env=env,
        check=True,
        capture_output=True,
    )
    bench.run("dvc push", [dvc, "push", "-q"], env=env)
    for leftover in (".dvc", ".dvcignore", "data.dvc", ".gitignore"):
        path = bench.project / leftover
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    shutil.rmtree(workdir / "dvc-remote", ignore_errors=True)


def run_scale_restic(bench: Bench, workdir: Path, restic: str, changed: Path) -> None:
    """restic's closest steps: backup (full, then after a one-file change), restore, check."""
    env = {
        **os.environ,
        "RESTIC_REPOSITORY": str(workdir / "restic-repo"),
        "RESTIC_PASSWORD": "bench",
        "RESTIC_CACHE_DIR": str(workdir / "restic-cache"),
    }
    bench.run("restic init", [restic, "init", "-q"], env=env)
    bench.run("restic backup", [restic, "backup", "-q", "data"], env=env)
    change_one_file(changed)
    bench.run("restic backup one change", [restic, "backup", "-q", "data"], env=env)
    dest = workdir / "restic-restore"
    bench.run("restic restore", [restic, "restore", "-q", "latest", "--target", str(dest)], env=env)
    shutil.rmtree(dest, ignore_errors=True)
    bench.run("restic check", [restic, "check", "-q"], env=env)
    for name in ("restic-repo", "restic-cache"):
        shutil.rmtree(workdir / name, ignore_errors=True)


# dvault step -> the peers' steps it compares with (summed where a peer needs two commands).
PEER_PAIRS: dict[str, dict[str, list[str]]] = {
    "add+commit": {"dvc": ["dvc add"], "restic": ["restic backup"]},
    "status clean": {"dvc": ["dvc status clean"]},
    "status one change": {"dvc": ["dvc status one change"]},
    "commit -a one change": {"dvc": ["dvc add one change"], "restic": ["restic backup one change"]},
    "checkout one change (v1)": {"dvc": ["dvc checkout one change"]},
    "push (dir)": {"dvc": ["dvc push"]},
    "clone (dir)": {"restic": ["restic restore"]},
    "verify": {"restic": ["restic check"]},
}


def scale_rows(bench: Bench) -> list[list[str]]:
    """One row per dvault step with time, memory, and each peer's time and ratio."""
    steps: dict[str, Step] = {}
    for name, step in bench.steps.items():
        steps[name] = step
        if name == "commit v1" and "add" in steps:  # the add+commit row follows commit v1
            pair = (steps["add"], step)
            run = Run(
                sum(s.seconds for s in pair),
                max(s.peak_rss_mib for s in pair),
                0 if all(s.ok for s in pair) else 1,
                "",
                "",
                max(s.memory_mib for s in pair),
            )
            steps["add+commit"] = Step("add+commit", [run])
    rows = []
    for name, step in steps.items():
        if name.startswith(("dvc ", "restic ", "baseline")):
            continue
        cells = [
            name + ("" if step.ok else " FAILED"),
            f"{step.seconds:.3f}",
            f"{step.memory_mib:.1f}",
        ]
        for peer in ("dvc", "restic"):
            names = PEER_PAIRS.get(name, {}).get(peer, [])
            found = [steps[n] for n in names if n in steps and steps[n].ok]
            if found and len(found) == len(names):
                seconds = sum(s.seconds for s in found)
                memory = max(s.memory_mib for s in found)
                cells += [f"{seconds:.3f} s, {memory:.0f} MiB", f"{seconds / step.seconds:.1f}x"]
            else:
                cells += ["", ""]
        rows.append(cells)
    return rows


def report_scale(bench: Bench, verification: dict[str, str], notes: list[str]) -> None:
    print("\n## Timings (memory: peak summed RSS of the process tree)\n")
    headers = ["step", "dvault s", "MiB", "DVC", "DVC/dvault", "restic", "restic/dvault"]
    print(markdown_table(headers, scale_rows(bench)))
    baselines = [
        [n, f"{s.seconds:.3f}"] for n, s in bench.steps.items() if n.startswith("baseline")
    ]
    if baselines:
        print("\n## Physical baselines\n")
        print(markdown_table(["baseline", "seconds"], baselines))
    peers = [
        [n, f"{s.seconds:.3f}", f"{s.memory_mib:.1f}"]
        for n, s in bench.steps.items()
        if n.startswith(("dvc ", "restic "))
    ]
    if peers:
        print("\n## Peer steps\n")
        print(markdown_table(["step", "seconds", "MiB"], peers))
    print("\n## Storage (apparent size)\n")
    print(
        markdown_table(
            ["item", "MiB"],
            [
                [k, f"{v / MiB:.1f}"]
                for k, v in bench.sizes.items()
                if not k.endswith("(allocated)")
            ],
        )
    )
    if verification:
        print("\n## Verification (blake3 of every file)\n")
        print(markdown_table(["after", "result"], [[k, v] for k, v in verification.items()]))
    for note in notes:
        print(f"\n{note}")
    if bench.failures:
        print(f"\nFAILED steps: {', '.join(bench.failures)}")


def scale_benchmark(args: argparse.Namespace, workdir: Path, launcher: Launcher) -> int:
    """--files / --large: generate, baselines, dvault steps, then each installed peer."""
    project = workdir / "project"
    project.mkdir()
    bench = Bench(project, launcher, args.dvault)
    notes: list[str] = []
    start = time.perf_counter()
    if args.large:
        total = int(args.large_gb * (1 << 30))
        free = shutil.disk_usage(workdir).free
        need = (STORE_COPIES + (0 if args.no_peers else PEER_COPIES)) * total
        if free < need:
            sys.exit(
                f"--large-gb {args.large_gb:g} needs ~{need / (1 << 30):.0f} GiB free in"
                f" {workdir}, has {free / (1 << 30):.0f} GiB: lower --large-gb"
            )
        print(f"generating {args.large_gb:g} GiB of large files ...", file=sys.stderr)
        paths = generate_large_files(project, total, args.seed)
        changed = paths[len(paths) // 2]
    else:
        print(f"generating {args.files} tiny files ...", file=sys.stderr)
        generate_tiny_files(project, args.files, args.flat, args.seed)
        changed = project / tiny_file_path(args.files // 2, args.flat)
    files, tree_bytes, _ = tree_size(project)
    bench.sizes["tree"] = tree_bytes
    elapsed = time.perf_counter() - start
    print(f"  {files} files, {tree_bytes / MiB:.1f} MiB in {elapsed:.1f} s", file=sys.stderr)
    notes.append(f"Tree: {files} files, {tree_bytes / MiB:.1f} MiB; load before: {load()}.")

    cat = shell("find data -type f -print0 | xargs -0 cat > /dev/null")
    launcher.measure(cat, project)  # warm the page cache
    bench.run("baseline cat", cat)
    bench.run("baseline blake3", hash_command(["data"]))
    if args.large:
        bench.run(
            "baseline blake3+zstd -1",
            [sys.executable, "-c", HASH_COMPRESS_SCRIPT, *map(str, paths)],
            repeat=3,  # median of 3, as the add it is compared with
        )
    else:
        bench.run("baseline tar|zstd", shell("tar -cf - data | zstd -1 -T0 -q > /dev/null"))

    probe_dvault(bench)
    verification: dict[str, str] = {}
    if bench.dvault_available:
        verification = run_scale_dvault(bench, workdir, changed, 3 if args.large else 1)
        index = project / ".dvault" / "index"
        objects = _object_count(bench)
        if objects:
            index_bytes = (
                sum(f.stat().st_size for f in index.glob("*.mdb")) if index.is_dir() else 0
            )
            bench.sizes["object index (LMDB)"] = index_bytes
            notes.append(
                f"Object index: {index_bytes} bytes for {objects} objects, "
                f"{index_bytes / objects:.0f} bytes per object."
            )
        shutil.rmtree(workdir / "remote", ignore_errors=True)
    shutil.rmtree(project / ".dvault", ignore_errors=True)  # disk space for the peers
    if not args.large and args.files > args.peer_max_files:
        notes.append(f"Peers skipped: {args.files} files > --peer-max-files {args.peer_max_files}.")
    elif not args.no_peers:
        for name, runner in (("dvc", run_scale_dvc), ("restic", run_scale_restic)):
            exe = find_peer(name, getattr(args, name))
            if exe is None:
                notes.append(f"{name} not installed: skipped.")
                continue
            flag = "version" if name == "restic" else "--version"
            out = subprocess.run([exe, flag], capture_output=True, text=True).stdout
            notes.append(f"{name}: {exe} ({(out.strip().splitlines() or ['?'])[0]}).")
            runner(bench, workdir, exe, changed)
    notes.append(f"Load after: {load()}.")
    report_scale(bench, verification, notes)
    if args.json:
        results = {
            "config": {k: str(v) for k, v in vars(args).items()},
            "host": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "tree": {"files": files, "bytes": tree_bytes},
            "steps": {name: step.to_json() for name, step in bench.steps.items()},
            "sizes": bench.sizes,
            "verification": verification,
            "notes": notes,
            "failures": bench.failures,
        }
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    mismatch = any(result != "OK" for result in verification.values())
    return 1 if bench.failures or mismatch else 0


def _object_count(bench: Bench) -> int:
    """Entries in the object index's ``objects`` table (0 when lmdb is not importable here)."""
    script = (
        "import lmdb, sys\n"
        "env = lmdb.open(sys.argv[1], readonly=True, lock=False, max_dbs=8)\n"
        "with env.begin() as txn:\n"
        "    print(txn.stat(env.open_db(b'objects', txn=txn, create=False))['entries'])\n"
    )
    index = str(bench.project / ".dvault" / "index")
    result = subprocess.run([sys.executable, "-c", script, index], capture_output=True, text=True)
    try:
        return int(result.stdout.strip())
    except ValueError:
        return 0


def load() -> str:
    """The 1, 5 and 15 minute load averages, to note beside figures from a shared machine."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- reporting


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A padded markdown table, readable both raw in a terminal and rendered."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def ratio(value: float, reference: float | None, label: str) -> str:
    """'N.NNx label', or empty when there is no reference to compare against."""
    return f"{value / reference:.2f}x {label}" if reference else ""


def step_comparison(name: str, step: Step) -> str:
    """The baseline/target comparison shown for a step, where one is meaningful."""
    if name.startswith("status"):
        target = STATUS_CLEAN_TARGET_S if name == "status clean" else STATUS_CHANGED_TARGET_S
        return f"min {step.min_seconds:.3f} s; {ratio(step.seconds, target, f'{target} s target')}"
    if name.startswith("checkout"):
        return ratio(step.seconds, CHECKOUT_TARGET_S, f"{CHECKOUT_TARGET_S} s target")
    if name.startswith("push v2"):
        return ratio(
            step.seconds, PUSH_INCREMENTAL_TARGET_S, f"{PUSH_INCREMENTAL_TARGET_S} s target"
        )
    return ""


def _baseline_comparison(bench: Bench, name: str, step: Step) -> str:
    """push v1 against `cp` of the packs; clone against `zstd -d | tar -x`."""
    pairs = {"push v1": "baseline cp packs", "clone v2": "baseline untar"}
    for prefix, baseline in pairs.items():
        base = bench.steps.get(baseline)
        if name.startswith(prefix) and base is not None and base.ok:
            return ratio(step.seconds, base.seconds, baseline.removeprefix("baseline "))
    return ""


def timing_rows(bench: Bench) -> list[list[str]]:
    """One row per recorded step, plus add+commit v1 (vs tar|zstd) and the overall peak RSS."""
    tar = bench.steps.get("baseline tar|zstd")
    tar_seconds = tar.seconds if tar and tar.ok else None
    rows: list[list[str]] = []
    for name, step in bench.steps.items():
        label = name if len(step.runs) == 1 else f"{name} (median of {len(step.runs)})"
        comparison = step_comparison(name, step) if step.ok else ""
        label += "" if step.ok else " FAILED"
        comparison = comparison or _baseline_comparison(bench, name, step)
        rows.append([label, f"{step.seconds:.3f}", f"{step.peak_rss_mib:.1f}", comparison])
        if name == "commit v1" and "add" in bench.steps:
            pair = (bench.steps["add"], step)
            total = sum(s.seconds for s in pair)
            label = "add+commit v1" + ("" if all(s.ok for s in pair) else " FAILED")
            rss = f"{max(s.peak_rss_mib for s in pair):.1f}"
            rows.append([label, f"{total:.3f}", rss, ratio(total, tar_seconds, "tar|zstd")])
    dvault_steps = [s for n, s in bench.steps.items() if not n.startswith("baseline")]
    if dvault_steps:
        peak = max(s.peak_rss_mib for s in dvault_steps)
        rows.append(["max over dvault steps", "", f"{peak:.1f}", ""])
    return rows


def storage_rows(bench: Bench) -> list[list[str]]:
    """Apparent sizes in MiB, with the store compared to the tree, the archive and the target."""
    sizes = bench.sizes
    tree, archive = sizes["tree v1"], sizes.get("tar.zst archive")
    store_v1 = sizes.get(".dvault after v1", 0)
    comparisons = {
        "tar.zst archive": ratio(archive or 0, tree, "tree"),
        ".dvault after v1": "; ".join(
            filter(None, [ratio(store_v1, tree, "tree"), ratio(store_v1, archive, "tar.zst")])
        ),
        "store growth v1->v2": ratio(
            sizes.get("store growth v1->v2", 0) / MiB,
            STORE_GROWTH_TARGET_MIB,
            f"{STORE_GROWTH_TARGET_MIB:g} MiB target",
        ),
    }
    return [
        [name, f"{value / MiB:.1f}", comparisons.get(name, "")]
        for name, value in sizes.items()
        if not name.endswith("(allocated)")
    ]


def report(bench: Bench, verification: dict[str, str], floor_mib: float) -> None:
    """Print the timing, storage and verification tables."""
    print("\n## Timings\n")
    headers = ["step", "seconds", "peak RSS MiB", "vs baseline / target"]
    print(markdown_table(headers, timing_rows(bench)))
    print(f"\nPeak RSS readings near {floor_mib:.0f} MiB are the floor (the launcher's size).")
    print("\n## Storage (apparent size)\n")
    print(markdown_table(["item", "MiB", "ratio"], storage_rows(bench)))
    if verification:
        print("\n## Verification of checkouts and clones (blake3 of every file)\n")
        print(markdown_table(["after", "result"], [[k, v] for k, v in verification.items()]))
    if not bench.dvault_available:
        print(f"\ndvault CLI unavailable: `{' '.join(bench.dvault_cmd)} --help` failed.")
    if bench.failures:
        print(f"\nFAILED steps: {', '.join(bench.failures)}")


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
    if args.files is not None and not 1 <= args.files <= 10_000_000:
        parser.error("--files must be between 1 and 10,000,000")
    return args


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
