"""Scale modes (issue 7): ``--files N`` tiny files or ``--large`` files, with the same
steps of DVC and restic where installed, and their ratios."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchlib.measure import (
    REPO_ROOT,
    Bench,
    Launcher,
    MiB,
    Run,
    Step,
    hash_command,
    load,
    parse_manifest,
    shell,
    tree_size,
)
from benchlib.projects import (
    change_one_file,
    generate_large_files,
    generate_tiny_files,
    tiny_file_path,
)
from benchlib.report import markdown_table
from benchlib.scenarios import probe_dvault, record_store_size, verify_tree

PEER_MAX_FILES = 100_000
"""Peers stop here: DVC takes far too long at a million files (hours, per issue 7)."""
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
    verification = {"after checkouts": verify_tree(bench, bench.project, manifest_v2, "checkouts")}
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
        verification["clone"] = verify_tree(bench, dest, manifest_v2, "clone")
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
