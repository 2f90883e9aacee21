"""The ML project's scenarios: physical baselines, versioning, checkouts, verify and
the remotes (a directory, and moto's S3 server on loopback)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchlib.measure import (
    TREE_ROOTS,
    Bench,
    hash_command,
    parse_manifest,
    shell,
    tree_size,
    warm,
)
from benchlib.projects import TreeSpec, apply_v2


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
            warm(archive)  # as a clone's remote packs below: read from memory

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
        return
    # the start-up of the full command line (interpreter, imports, typer): median of 5
    bench.dvault("dvault --version", "--version", repeat=5)
    # status's own start-up (interpreter, imports, opening a repository, an empty scan),
    # which issue 23 holds to half of a clean status: status of a project with no files
    empty = bench.project.parent / "empty-project"
    empty.mkdir(exist_ok=True)
    subprocess.run(
        [*bench.dvault_cmd, "init", "-q"],
        cwd=empty,
        env=bench.dvault_env,
        check=True,
        capture_output=True,
    )
    bench.dvault("status, empty project", "-C", str(empty), "status", repeat=5)
    shutil.rmtree(empty)


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
    packs = bench.project / ".dvault" / "packs"
    for i, tag in enumerate(("v1", "v2", "v1", "v2")):
        name = f"checkout {tag} #{i // 2 + 1}"
        if bench.dvault(name, "checkout", tag, before=lambda: warm(packs)) is None:
            continue
        actual = parse_manifest(bench.launcher.measure(hash_command(), bench.project).stdout)
        expected = manifests[tag]
        bad = sorted(p for p in expected.keys() | actual.keys() if expected.get(p) != actual.get(p))
        verification[name] = "OK" if not bad else f"MISMATCH ({len(bad)} files, e.g. {bad[0]})"
        print(f"  verify after {name}: {verification[name]}", file=sys.stderr)
    return verification


def run_verify(bench: Bench) -> None:
    """``verify --read-data`` of both versions, against its physical floor measured on the
    same pack files: `cat` of them (reading every byte) and blake3 of them on every core
    (what `b3sum` does; as "baseline blake3" does for the tree)."""
    packs = bench.project / ".dvault" / "packs"
    if not bench.dvault_available or not packs.is_dir():
        return
    cat = shell("cat .dvault/packs/*.pack > /dev/null")
    bench.run("baseline cat packs", cat, repeat=3, before=lambda: warm(packs))
    bench.run(
        "baseline blake3 packs",
        hash_command([".dvault/packs"]),
        repeat=3,
        before=lambda: warm(packs),
    )
    bench.dvault(
        "verify --read-data", "verify", "--read-data", repeat=3, before=lambda: warm(packs)
    )


def verify_tree(bench: Bench, root: Path, expected: dict[str, str], name: str) -> str:
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
    packs = bench.project / ".dvault" / "packs"  # read by a push: warm, as for `cp` of them
    bench.dvault(f"push v1 ({kind})", "push", kind, "v1", before=lambda: warm(packs))
    bench.dvault(f"push v2 incremental ({kind})", "push", kind, "main", before=lambda: warm(packs))
    bench.dvault(f"push nothing new ({kind})", "push", kind, "main", before=lambda: warm(packs))
    dest = workdir / f"clone-{kind}"

    def fresh_dest() -> None:
        shutil.rmtree(dest, ignore_errors=True)
        if kind == "dir":  # as untar's archive: the remote's packs read from memory
            warm(Path(url))

    step = bench.dvault(
        f"clone v2 ({kind})",
        "clone",
        url,
        str(dest),
        *extra,
        repeat=3,
        before=fresh_dest,
    )
    verification = {}
    if step is not None and step.ok:
        verification[f"clone v2 ({kind})"] = verify_tree(bench, dest, manifests["v2"], kind)
    shutil.rmtree(dest, ignore_errors=True)
    return verification


def run_remotes(
    bench: Bench, workdir: Path, manifests: dict[str, dict[str, str]], s3: bool
) -> dict[str, str]:
    """Remote scenarios: a directory remote, and with ``s3`` moto's S3 server on loopback."""
    packs = bench.project / ".dvault" / "packs"
    copy = workdir / "packs-copy"

    def fresh_copy() -> None:
        shutil.rmtree(copy, ignore_errors=True)
        warm(packs)

    bench.run("baseline cp packs", ["cp", "-r", str(packs), str(copy)], repeat=3, before=fresh_copy)
    shutil.rmtree(copy, ignore_errors=True)
    verification = run_remote(bench, workdir, manifests, "dir", str(workdir / "remote"))
    if s3:
        verification.update(_run_s3(bench, workdir, manifests))
    return verification


def lean_moto_version_listing() -> None:
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
