"""Shared pieces of the remote-objects attack tests (issue 17, part C): a small project,
and an attacker's own dvault writers for crafting valid ref-log entries and packs."""

from __future__ import annotations

import os
import time
from pathlib import Path

from blake3 import blake3

from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.remote.backend import Backend
from dvault.remote.reflog import GENESIS, LogEntry, RefUpdate, RemoteRefLog
from dvault.store.pack import PackWriter
from tests.cli.helpers import Project, snapshot

PUBLIC = b"id,text\n" + b"".join(b"%d,a sentence everyone can download\n" % i for i in range(3000))
"""A public file (a dataset anyone can download): its blob id is known to everyone."""


def committed(root: Path, files: dict[str, bytes], message: str = "v1") -> str:
    """A new project at ``root`` with ``files`` added and committed on main, made with
    dvault's own API in this process (set-up, not the attack: faster than three runs of the
    CLI); returns the commit id."""
    from dvault.repo import Repo

    repo = Repo.init(root, at_git_root=False)
    with repo:
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        repo.add([root / "data"])
        return repo.commit(message).hex()


def small_project(root: Path, env: dict[str, str], *remote_add: str) -> Project:
    """A project with a public file and private data committed on main (not pushed), and
    the remote added as origin (by the CLI)."""
    files = {
        "data/public.csv": PUBLIC,
        "data/private/a.bin": os.urandom(60_000),
        "data/private/b.bin": os.urandom(40_000),
    }
    committed(root, files)
    proj = Project(root, env)
    if remote_add:
        if "://" not in remote_add[0]:  # the disk the remote is created on is mounted
            Path(remote_add[0]).parent.mkdir(parents=True, exist_ok=True)
        proj.ok("remote", "add", "--init", "origin", *remote_add)
    return proj


def same_data(a: Project, b: Project) -> bool:
    return snapshot(a.root / "data") == snapshot(b.root / "data")


def clone_run(target_url: str, dest: Path, env: dict[str, str], *extra: str) -> tuple[Project, str]:
    """Run ``dvault clone``, requiring success; returns the clone and its stderr."""
    runner = Project(dest.parent, env)
    result = runner.ok("clone", target_url, str(dest), *extra, cwd=dest.parent)
    return Project(dest, env), result.err


def append_entry(backend: Backend, state_dir: Path, ref: str, commit_hex: str) -> None:
    """Append a valid, correctly chained ref-log entry (what anyone allowed to create files
    on the remote can do), through dvault's own ref-log writer."""
    log = RemoteRefLog(backend, state_dir / "log.json")
    log.append([(ref, commit_hex, False)], lambda _state: None)


def forged_entry(
    seq: int, prev: str, ref: str, old: str | None, new: str, force: bool = False
) -> bytes:
    """A canonical ref-log entry, encoded by dvault's own encoder."""
    update = RefUpdate(ref, old, new, force)
    return LogEntry(seq, prev, (update,), time.time_ns(), "ada", "gpu-01").encode()


def genesis_entry(ref: str, new: str) -> bytes:
    return forged_entry(0, GENESIS, ref, None, new)


def junk_pack(tmp: Path, oid: ObjectId, raw_len: int, below: str | None = None) -> Path:
    """A pack written by dvault's own PackWriter whose footer lists ``oid`` (a blob of
    ``raw_len`` bytes) stored raw, with junk in place of its bytes; with ``below``, its name
    sorts before that name (an attacker can grind names: a pack name is a hash)."""
    packs, scratch = tmp / "junk-packs", tmp / "junk-tmp"
    packs.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    while True:
        writer = PackWriter(packs, scratch)
        writer.add(oid, ObjectType.BLOB, 0, os.urandom(raw_len), raw_len)
        filler = os.urandom(16)  # a second, genuine object: varies the name
        writer.add(object_id(ObjectType.BLOB, filler), ObjectType.BLOB, 0, filler, len(filler))
        name = writer.seal()
        path = packs / f"{name}.pack"
        if below is None or name < below:
            return path
        path.unlink()


def predicted_footer_pack(local_pack: Path, dest_dir: Path) -> Path:
    """Junk data behind the footer and trailer of ``local_pack``, named by the blake3 of
    that footer: what an attacker who predicts a pack's footer (its objects' ids and sizes,
    e.g. of a public file's chunks) can write before the honest pack is pushed."""
    data = local_pack.read_bytes()
    footer_offset = int.from_bytes(data[-56:-48], "big")
    footer = data[footer_offset:-56]
    junk = data[:8] + os.urandom(footer_offset - 8) + data[footer_offset:]
    dest = dest_dir / f"{blake3(footer).hexdigest()}.pack"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(junk)
    return dest


def blob_id(content: bytes) -> ObjectId:
    return object_id(ObjectType.BLOB, content)
