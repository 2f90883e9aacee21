"""Remote administration: adding, listing and removing remotes in ``.dvault/config``.

Only the remote's address and settings are recorded, never credentials. What must bind
every client is written to the remote itself before the config changes: the branches
it protects (its create-only marker) and, with ``encrypt``, its keys (remote/keys.py).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from dvault import config as cfg
from dvault.errors import UsageError
from dvault.remote import keys
from dvault.remote.backend import AlreadyExists, RemoteError, RemoteSpec
from dvault.remote.marker import MARKER, marker_bytes, read_marker
from dvault.remote.registry import (
    DEFAULT_KEY,
    check_url,
    default_remote,
    directory_of,
    open_backend,
)
from dvault.remote.s3 import check_retention
from dvault.remote.session import Remote, pick_remote, protect_remote, remote_specs
from dvault.remote.usage import UsageReport, usage
from dvault.repository import Repository
from dvault.retention import parse_policy


def add_remote(
    repo: Repository,
    name: str,
    url: str,
    endpoint: str | None = None,
    region: str | None = None,
    retention_days: int | None = None,
    profile: str | None = None,
    protect: list[str] | None = None,
    encrypt: bool = False,
    kdf_cost: int | None = None,
    init: bool = False,
) -> RemoteSpec:
    """Record a remote; ``protect`` (branch globs that only fast-forward there, even when
    forced) is written into the remote's marker first, and ``encrypt`` sets up (or
    joins) client-side encryption before anything is recorded.

    A directory remote must already be one (hold dvault's marker) unless ``init``
    creates it, as ``restic init`` does: its parent directory must exist (an unmounted
    mount point is not silently filled on the local disk) and it may not lie inside the
    project. ``init`` on S3 writes the marker into an existing bucket (dvault never
    creates buckets). A URL that looks like a mistyped scheme is refused."""
    cfg.check_remote_name(name)
    check_url(url)
    if "://" not in url:
        url = str((Path.cwd() / url).resolve()) if not Path(url).is_absolute() else url
    if retention_days is not None and (retention_days <= 0 or not url.startswith("s3://")):
        raise UsageError("--retention needs a positive number of days and an s3:// remote")
    spec = RemoteSpec(name, url, endpoint, region, retention_days, profile)
    if kdf_cost is not None and not encrypt:
        raise UsageError("--kdf-cost needs --encrypt")
    if kdf_cost is not None:
        keys.check_new_cost(kdf_cost)
    if name in repo.config.get("remote", {}):
        raise UsageError(f"remote {name!r} already exists")
    folder = directory_of(spec, repo.root)
    marker = not (encrypt or protect)  # else written with the keys / the protections
    if folder is not None:
        _check_directory(repo, spec, folder, init, marker)
    elif init:
        initialise(repo, spec, marker)
    if encrypt:
        spec = _encrypt_remote(repo, spec, kdf_cost, protect or [])
    if retention_days is not None:  # the bucket's default retention, not the pusher's
        check_retention(spec, repo.warn)
    with repo.locked():
        config = cfg.load(repo.dir / "config")
        remotes = config.setdefault("remote", {})
        if name in remotes:
            raise UsageError(f"remote {name!r} already exists")
        if protect:  # encrypted: written by _encrypt_remote; either way, check it
            protect_remote(open_backend(spec, repo.root), protect)
        remotes[name] = spec.to_config()
        cfg.save(repo.dir / "config", config)
        repo.reload_config()
    return spec


def _encrypt_remote(
    repo: Repository, spec: RemoteSpec, kdf_cost: int | None, protect: list[str]
) -> RemoteSpec:
    """Set up (or join) encryption on the remote before recording it."""
    if spec.name in repo.config.get("remote", {}):
        raise UsageError(f"remote {spec.name!r} already exists")
    backend = open_backend(spec, repo.root)
    key_id = keys.set_up(backend, spec.name, kdf_cost or keys.DEFAULT_LOG_N, protect)
    return dataclasses.replace(spec, encrypt=True, key_id=key_id)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _check_outside(repo: Repository, spec: RemoteSpec, folder: Path) -> None:
    """A directory remote never lies inside the project (the work tree or .dvault)."""
    if _inside(folder.resolve(), repo.root.resolve()) or _inside(folder, repo.root):
        raise UsageError(
            f"remote {spec.name}: {folder} is inside the project {repo.root}; a remote must "
            "live outside it (another disk, a NAS, s3://...)"
        )


def _check_directory(
    repo: Repository, spec: RemoteSpec, folder: Path, init: bool, marker: bool
) -> None:
    """A directory remote is an existing dvault remote, or ``init`` creates one."""
    _check_outside(repo, spec, folder)
    if init:
        initialise(repo, spec, marker)
        return
    if folder.is_dir() and read_marker(open_backend(spec, repo.root)) is not None:
        return
    why = "no such directory" if not folder.is_dir() else f"no {MARKER} there"
    raise UsageError(
        f"remote {spec.name}: {folder} is not a dvault remote ({why}); to create one, run "
        f"`dvault remote add --init {spec.name} {folder}`"
    )


def initialise(repo: Repository, spec: RemoteSpec, marker: bool = True) -> bool:
    """Create the remote's location and (``marker``) its marker, for ``remote add
    --init`` and ``remote init``; True when created, False when it already was a dvault
    remote. (With --protect or --encrypt the marker is written by what sets those up.)

    A directory is created only under an existing parent (``/mnt/nas/x`` is refused
    while ``/mnt/nas`` is not there: nothing lands on the local disk by mistake); an S3
    bucket must exist: dvault never creates buckets."""
    folder = directory_of(spec, repo.root)
    if folder is not None:
        parent = folder.parent
        if not parent.is_dir():
            raise UsageError(
                f"remote {spec.name}: cannot create {folder}: its parent {parent} does not "
                "exist (not mounted?); create or mount it first"
            )
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"remote {spec.name}: {folder} exists and is not a directory")
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"remote {spec.name}: cannot create {folder}: {exc.strerror}"
            ) from None
    backend = open_backend(spec, repo.root)
    if read_marker(backend) is not None:
        return False
    if not marker:
        return True
    try:
        backend.create(MARKER, marker_bytes())
    except AlreadyExists:
        return False
    except RemoteError as exc:
        raise RemoteError(f"remote {spec.name}: cannot create it: {exc}") from None
    return True


def init_remote(repo: Repository, name: str) -> bool:
    """``dvault remote init NAME``: create a configured remote's location (see
    :func:`initialise`); True when created, False when it already was a dvault remote."""
    spec = remote_specs(repo).get(name)
    if spec is None:
        raise UsageError(f"no remote named {name!r}")
    folder = directory_of(spec, repo.root)
    if folder is not None:
        _check_outside(repo, spec, folder)
    return initialise(repo, spec)


def remove_remote(repo: Repository, name: str) -> None:
    """Forget a remote (config, tracking refs, caches); the remote itself is untouched."""
    with repo.locked():
        config = cfg.load(repo.dir / "config")
        if name not in config.get("remote", {}):
            raise UsageError(f"no remote named {name!r}")
        del config["remote"][name]
        cfg.save(repo.dir / "config", config)
        local = cfg.load(repo.dir / cfg.LOCAL_FILE)  # a default naming it goes with it
        section, _, key = DEFAULT_KEY.partition(".")
        if cfg.get(local, DEFAULT_KEY) == name:
            del local[section][key]
            cfg.save(repo.dir / cfg.LOCAL_FILE, local)
        repo.reload_config()
        shutil.rmtree(repo.dir / "remotes" / name, ignore_errors=True)
        shutil.rmtree(repo.dir / "refs" / "remotes" / name, ignore_errors=True)


def remotes(repo: Repository) -> dict[str, RemoteSpec]:
    """Configured remotes by name."""
    return remote_specs(repo)


def default(repo: Repository) -> tuple[str, str]:
    """The remote used when a command names none, and why (see
    :func:`dvault.remote.registry.default_remote`)."""
    return default_remote(repo.config, remote_specs(repo))


def set_default(repo: Repository, name: str) -> None:
    """Make ``name`` the default remote of this clone: ``[remotes] default`` in
    ``.dvault/config.local`` (written atomically), used by push, fetch, pull, the hooks
    and every command that reads from a remote when none is named."""
    cfg.check_remote_name(name)
    with repo.locked():
        if name not in remote_specs(repo):
            raise UsageError(f"no remote named {name!r} (dvault remote list)")
        path = repo.dir / cfg.LOCAL_FILE
        local = cfg.load(path)
        section, _, key = DEFAULT_KEY.partition(".")
        table = local.get(section)
        local[section] = {**(table if isinstance(table, dict) else {}), key: name}
        cfg.save(path, local)
        repo.reload_config()


def remote_usage(repo: Repository, name: str, policy: str | None = None) -> UsageReport:
    """``dvault remote du``: what the remote's bytes are for (remote/usage.py); read-only
    on the remote. ``policy``: forget options whose effect to estimate."""
    parsed = parse_policy(policy) if policy is not None else None
    return usage(Remote(repo, pick_remote(repo, name)), parsed)
