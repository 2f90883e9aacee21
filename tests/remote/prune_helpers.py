"""Shared by the prune tests: a signing key the project trusts, forget entries in the
version 3 format (part A's ``forget`` writes them; until then, appended here), and an
in-process handle on the remote."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from dvault.remote.logentry import Action
from dvault.remote.logsign import push_signer
from dvault.remote.session import Remote, pick_remote
from dvault.repo import Repo
from dvault.signing import allowed_signers_path


class Project(Protocol):
    """A test project (tests/cli/helpers.py's or tests/reliability/harness.py's)."""

    root: Path
    env: dict[str, str]

    def ok(self, *args: str) -> Any: ...


def trust_own_key(proj: Project) -> None:
    """``dvault key generate`` and the key in this user's allowed_signers file."""
    proj.ok("key", "generate")
    line = proj.ok("key", "export").out.strip()
    with in_env(proj.env):
        signers = allowed_signers_path()
    signers.parent.mkdir(parents=True, exist_ok=True)
    with open(signers, "a") as f:
        f.write(line + "\n")


@contextmanager
def in_env(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def append_action(proj: Project, action: Action, name: str = "origin") -> int:
    """Append one signed version 3 entry to the remote's ref log; returns its position."""
    with in_env(proj.env):
        repo = Repo.open(proj.root)
        remote = Remote(repo, pick_remote(repo, name))
        signer = push_signer(repo, True)
        assert signer is not None
        _, entry = remote.log.append_action(action, signer)
        return entry.seq


def forget(proj: Project, released: list[str], name: str = "origin") -> int:
    """A forget entry releasing ``released`` (commit ids), in part A's format (what
    ``dvault forget`` writes; its policy here is empty: the test names the commits)."""
    fields = {"branches": [], "policy": {}, "released": sorted(released), "released_refs": []}
    return append_action(proj, Action("forget", fields), name)


def redact(proj: Project, commit: str, objects: list[str], name: str = "origin") -> int:
    """A redact entry erasing ``objects`` of ``commit``, in part C's format (what
    ``dvault redact`` writes; path hashes left out: prune reads only the objects)."""
    fields = {
        "commits": [commit],
        "objects": sorted(objects),
        "path_hashes": [],
        "reason": "data subject request",
    }
    return append_action(proj, Action("redact", fields), name)


def read_back(
    proj: Project, commit: str, name: str = "origin", skip: frozenset[bytes] = frozenset()
) -> int:
    """Read every object ``commit`` needs (its tree and data, not its history) from the
    remote, each verified against its id (byte for byte), but ``skip``; returns how many."""
    from dvault.reachability import walk

    with in_env(proj.env):
        repo = Repo.open(proj.root)
        remote = Remote(repo, pick_remote(repo, name))
        remote.refresh_catalog()
        found = walk(repo.store.get_raw, repo.store.type_of, [bytes.fromhex(commit)], history=False)
        for oid in found.objects:
            if oid in skip:
                continue
            remote.read_object(oid)  # raises unless a copy there hashes to its id
        return len(found.objects)


def stray_copy(proj: Project, name: str = "origin") -> tuple[str, str]:
    """Upload a second pack holding the objects of the remote's largest pack in reverse
    order (other bytes, another name: the copy a repack or a re-push leaves); returns
    (the original pack, the copy)."""
    from dvault.remote.catalog import pack_key
    from dvault.store.pack import PackEntry, PackWriter

    with in_env(proj.env):
        repo = Repo.open(proj.root)
        remote = Remote(repo, pick_remote(repo, name))
        remote.refresh_catalog()
        original = max(remote.catalog.packs, key=remote.catalog.packs.__getitem__)
        work = proj.root / ".dvault" / "stray"
        work.mkdir()
        writer = PackWriter(work, repo.store.tmp_dir)

        def keep(entry: PackEntry, stored: bytes) -> None:
            writer.add(entry.id, entry.type, entry.compression, stored, entry.raw_len)

        for entry in reversed(remote.catalog.entries_of(original) or []):
            remote.read_object(entry.id, keep=keep)
        copy = writer.seal()
        remote.backend.upload(pack_key(copy), work / f"{copy}.pack")
        return original, copy


def every_stored_object(target: Any) -> Iterator[tuple[str, bytes]]:
    """Every object a remote stores, raw (a tests/remote/conftest.py ``RemoteTarget``):
    each file of a directory remote (``tmp/`` included); on S3 every version of every
    key, noncurrent ones too (what a bucket still holds after a plain delete)."""
    if target.kind == "dir":
        for path in sorted(target.root.rglob("*")):
            if path.is_file():
                yield path.relative_to(target.root).as_posix(), path.read_bytes()
        return
    pages = target.client.get_paginator("list_object_versions").paginate(Bucket=target.bucket)
    for page in pages:
        for item in page.get("Versions", ()):
            body = target.client.get_object(
                Bucket=target.bucket, Key=item["Key"], VersionId=item["VersionId"]
            )["Body"].read()
            yield f"{item['Key']}@{item['VersionId']}", body


def restores(clone_proj: Project, commit: str, expected: dict[str, str]) -> None:
    """``checkout COMMIT`` in a clone gives exactly ``expected`` (sha256 by path: what
    tests/remote/conftest.py's ``tree_digests`` measured where the commit was made)."""
    from tests.remote.conftest import tree_digests

    clone_proj.ok("checkout", commit)
    assert tree_digests(clone_proj.root) == expected


def holds(raw: bytes, content: bytes, probes: int = 16, size: int = 48) -> bool:
    """Whether stored bytes ``raw`` hold any piece of ``content`` (random, so stored raw
    by zstd): ``probes`` slices of ``size`` bytes spread over it. One slice could straddle
    a chunk or zstd block boundary and be split in the pack; sixteen cannot all be, so
    ``holds`` finds content that is there, and ``not holds`` means no piece is."""
    step = max(1, (len(content) - size) // max(1, probes - 1))
    return any(content[i : i + size] in raw for i in range(0, len(content) - size + 1, step))
