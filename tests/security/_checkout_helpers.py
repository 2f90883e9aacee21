"""What the checkout attacks share: a victim's git project pushing to a directory remote,
and a forger holding only what the pusher credential grants (create files on that
remote), who writes crafted commits and trees with dvault's own store writer — valid,
correctly hashed objects, encoded by hand where dvault's encoders now refuse the value —
copies their packs onto the remote and appends a ref-log entry, as a modified client would.

The victim only ever runs the real ``dvault`` program (and real git).
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blake3 import blake3

from dvault.hashing import ObjectId, ObjectType
from dvault.remote.backend import AlreadyExists, RemoteSpec
from dvault.remote.reflog import GENESIS, LogEntry, RefUpdate, entry_key
from dvault.remote.registry import open_backend
from dvault.repo import Repo
from dvault.treeobjects import MODE_DIR, MODE_FILE, MODE_LINK
from tests.cli.helpers import Project, base_env, git, git_project

Entry = tuple[bytes, int, int, ObjectId]
"""(name, mode, size, id) of a tree entry, as the forger writes it."""

_ENTRY = struct.Struct(">IQ32sH")
_CHUNK_REF = struct.Struct(">32sI")


def canonical(value: dict[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no spaces, UTF-8): the only spelling a decoder takes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Forger:
    """Writes objects into its own repository's store, bypassing every encoder check
    (one store writer for all of them: they are sealed into packs when it closes)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.writer = repo.store.writer()

    def __enter__(self) -> Forger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.writer.__exit__(*exc)

    def put(self, kind: ObjectType, body: bytes) -> ObjectId:
        oid: ObjectId = self.writer.put_raw(kind, body)
        return oid

    def blob(self, data: bytes) -> ObjectId:
        return self.put(ObjectType.BLOB, data)

    def tree(self, entries: list[Entry]) -> tuple[ObjectId, int]:
        """A plain tree (version byte 1) of ``entries``, sorted; returns (id, size)."""
        body = bytes([1]) + b"".join(
            _ENTRY.pack(mode, size, oid, len(name)) + name
            for name, mode, size, oid in sorted(entries)
        )
        return self.put(ObjectType.TREE, body), sum(e[2] for e in entries)

    def chunk_list(self, chunk: ObjectId, length: int, count: int) -> ObjectId:
        """A chunk list repeating one chunk ``count`` times."""
        body = (
            struct.pack(">BQI", 1, length * count, count) + _CHUNK_REF.pack(chunk, length) * count
        )
        return self.put(ObjectType.CHUNKS, body)

    def files(self, spec: dict[bytes, Any]) -> tuple[ObjectId, int]:
        """A tree from ``{name: bytes | ("link", target) | {sub spec}}``; (id, size)."""
        return self.tree(self.entries(spec))

    def entries(self, spec: dict[bytes, Any]) -> list[Entry]:
        """The entries of the tree :meth:`files` would make of ``spec``."""
        entries: list[Entry] = []
        for name, value in spec.items():
            if isinstance(value, dict):
                oid, size = self.files(value)
                entries.append((name, MODE_DIR, size, oid))
            elif isinstance(value, tuple):
                entries.append((name, MODE_LINK, len(value[1]), self.blob(value[1])))
            else:
                entries.append((name, MODE_FILE, len(value), self.blob(value)))
        return entries

    def child_of_main(
        self, scene: Scene, extra: dict[bytes, Any], roots: dict[str, str], **kw: Any
    ) -> ObjectId:
        """A commit on top of the remote's main: its top-level entries, with those of
        ``extra`` replacing them by name, tracking ``data`` and ``roots``."""
        _, top = scene.base_tree()
        entries = {**top, **{e[0]: e for e in self.entries(extra)}}
        tree, _ = self.tree(list(entries.values()))
        return self.commit(tree, [scene.tip()], {"data": "dataset", **roots}, **kw)

    def commit(
        self,
        tree: ObjectId,
        parents: list[ObjectId],
        roots: dict[str, str],
        message: str = "routine relabel",
        sign: Any = None,
    ) -> ObjectId:
        """A commit with any ``roots`` (hand-made canonical JSON); ``sign`` is an ed25519
        private key to sign it with (the signature covers the body without itself)."""
        value: dict[str, Any] = {
            "author": "Mallory <m@example.com>",
            "message": message,
            "meta": {},
            "parents": [p.hex() for p in parents],
            "roots": roots,
            "time_ns": time.time_ns(),
            "tree": tree.hex(),
            "version": 1,
        }
        if sign is not None:
            from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

            from dvault.commitobjects import SIGNATURE_CONTEXT

            message_bytes = SIGNATURE_CONTEXT + b"commit\0" + canonical(value)
            public = sign.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            value["signature"] = {
                "alg": "ed25519",
                "key": public.hex(),
                "sig": sign.sign(message_bytes).hex(),
            }
        return self.put(ObjectType.COMMIT, canonical(value))


@dataclass
class Scene:
    """A victim project (git + dvault, ``data/`` tracked and pushed), the remote, and a
    forger's repository holding a copy of what the remote holds."""

    victim: Project
    remote: Path
    forger_root: Path

    def forger(self) -> Repo:
        return Repo.open(self.forger_root)

    def tip(self, ref: str = "refs/heads/main") -> ObjectId:
        """The commit the remote's log says ``ref`` is at now."""
        refs: dict[str, str] = {}
        for path in sorted((self.remote / "refs" / "log").glob("*.json")):
            for update in json.loads(path.read_bytes()).get("updates", []):
                refs[update["ref"]] = update["new"]
        return ObjectId(bytes.fromhex(refs[ref]))

    def base_tree(self) -> tuple[ObjectId, dict[bytes, Entry]]:
        """The tip commit's tree id and its top-level entries."""
        from dvault.treeobjects import Tree
        from dvault.trees import read_tree

        with self.forger() as repo:
            tree_id = repo.read_commit(self.tip()).tree
            tree: Tree = read_tree(repo.store, tree_id)
            return tree_id, {e.name: (e.name, e.mode, e.size, e.id) for e in tree.entries}

    def publish(self, commit: ObjectId, ref: str = "refs/heads/main", force: bool = False) -> None:
        """What a pusher credential allows: create the forger's packs on the remote (those
        not there yet) and append one ref-log entry moving ``ref`` to ``commit``."""
        publish(self.forger_root, self.remote, commit, ref, force)


def publish(
    source: Path, remote: Path, commit: ObjectId, ref: str = "refs/heads/main", force: bool = False
) -> None:
    """Copy ``source``'s packs to the directory ``remote`` and append a log entry."""
    backend = open_backend(RemoteSpec("r", str(remote)))
    for pack in sorted((source / ".dvault" / "packs").glob("*.pack")):
        with contextlib.suppress(AlreadyExists):
            backend.create(f"packs/{pack.name}", pack.read_bytes())
    log = sorted((remote / "refs" / "log").glob("*.json")) if (remote / "refs").exists() else []
    prev, seq, old = GENESIS, 0, None
    if log:
        raw = log[-1].read_bytes()
        prev, seq = blake3(raw).hexdigest(), len(log)
        for path in log:
            for update in json.loads(path.read_bytes()).get("updates", []):
                if update["ref"] == ref:
                    old = update["new"]
    entry = LogEntry(
        seq, prev, (RefUpdate(ref, old, commit.hex(), force),), time.time_ns(), "m", "h"
    )
    backend.create(entry_key(seq), entry.encode())


def victim_env(tmp_path: Path) -> dict[str, str]:
    """The victim's environment: isolated HOME, git and dvault config (tests/cli)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return base_env(home)


def make_scene(tmp_path: Path) -> Scene:
    """The victim's git project with ``data/a.txt`` committed, pinned, pushed; the
    forger's clone of the remote (the forger can read what it can write to)."""
    victim = git_project(tmp_path / "victim", victim_env(tmp_path))
    victim.write("data/a.txt", "alpha\n")
    victim.ok("add", "data")
    victim.ok("commit", "-m", "v1")
    git(victim, "add", "-A")
    git(victim, "commit", "-qm", "code and data pin")
    remote = tmp_path / "remote"
    victim.ok("remote", "add", "--init", "origin", str(remote))
    victim.ok("push")
    forger_root = tmp_path / "forger"
    victim.ok("clone", str(remote), str(forger_root), cwd=tmp_path)
    return Scene(victim, remote, forger_root)


def copy_scene(template: Scene, dest: Path) -> Scene:
    """A private copy of a scene made once per module (making one runs ~8 commands): the
    remote URL recorded in each project's config is pointed at the copy's remote."""
    import shutil

    base = template.remote.parent
    shutil.copytree(base, dest, symlinks=True)
    for config in (dest / "victim" / ".dvault" / "config", dest / "forger" / ".dvault" / "config"):
        config.write_text(config.read_text().replace(str(base), str(dest)))
    env = {**template.victim.env, "HOME": str(dest / "home")}
    env["DVAULT_CONFIG_DIR"] = str(dest / "home" / ".config" / "dvault")
    return Scene(Project(dest / "victim", env), dest / "remote", dest / "forger")


def git_status(proj: Project) -> str:
    """``git status --porcelain --ignored=no``: what git would show the user."""
    import subprocess

    return subprocess.run(
        ["git", "status", "--porcelain"],
        cwd=proj.root,
        env=proj.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def tree_paths(root: Path) -> set[str]:
    """Every path under ``root`` (outside .dvault and .git), links not followed."""
    found = set()
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".dvault", ".git")]
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found
