"""Shared by the tests of what a commit can make a user see and run, and what a committed
config can do (tests/security/test_trust_*.py): hostile strings, crafted commits written
with dvault's own store writer, and the check that output carries no control character."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

from dvault.commitobjects import Commit
from dvault.hashing import ObjectId, ObjectType
from dvault.repo import Repo
from dvault.treeobjects import MODE_DIR, MODE_FILE
from tests.cli.helpers import Project, Result, base_env

HOSTILE = "\x1b[2K\r\x1b]0;pwned\x07\u202e\x9b31m\x7f"
"""Erase the line and return (CSI), retitle the terminal (OSC ... BEL), reverse the text
(bidi override), a one-byte C1 CSI, DEL."""

FORGED = "\nSignature: good signature by alice (key 0123456789abcdef)\nAuthor: alice"
"""A newline followed by lines that look like dvault's own header lines."""

RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""What must never reach a terminal from untrusted text (a newline is dvault's own)."""

_ENTRY = struct.Struct(">IQ32sH")  # docs/format.md: mode, size, id, name length, name
TREE_PLAIN = 1


def victim(tmp_path: Path, git: bool = False) -> Project:
    """A fresh project (inside a new git work tree with ``git``) tracking ``data/`` at one
    commit, and a way to run the real ``dvault`` in it with an isolated environment (HOME,
    git and dvault config). Set up through the library: only the attack needs the CLI."""
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = base_env(home)
    root = tmp_path / "victim"
    root.mkdir(parents=True)
    proj = Project(root, env)
    if git:
        git_env = {**env, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e"}
        proj.env = {**git_env, "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@e"}
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True, env=proj.env)
    proj.write("data/a.txt", "alpha\n")
    with Repo.init(root) as repo:
        repo.add([root / "data"])
        repo.commit("base")
    return proj


def assert_clean(result: Result) -> None:
    """No control character (but newlines), ESC, C1 or bidi control on stdout or stderr."""
    for name, text in (("stdout", result.out), ("stderr", result.err)):
        found = RAW.search(text)
        assert found is None, f"raw {found.group()!r} on {name}:\n{result.describe()}"
    assert "Traceback" not in result.err, result.describe()


def raw_tree(repo_writer: Any, entries: list[tuple[bytes, int, int, bytes]]) -> ObjectId:
    """A tree written as hand-made canonical bytes (``put_raw``), so names the encoder
    might refuse can still be stored, validly hashed: (name, mode, size, id) sorted."""
    body = bytes([TREE_PLAIN]) + b"".join(
        _ENTRY.pack(mode, size, oid, len(name)) + name for name, mode, size, oid in sorted(entries)
    )
    return repo_writer.put_raw(ObjectType.TREE, body)


Files = dict[bytes, Any]  # name -> bytes (a file) or Files (a folder)


def _put_files(w: Any, files: Files) -> tuple[ObjectId, int]:
    entries: list[tuple[bytes, int, int, bytes]] = []
    for name, value in files.items():
        if isinstance(value, dict):
            oid, size = _put_files(w, value)
            entries.append((name, MODE_DIR, size, oid))
        else:
            entries.append((name, MODE_FILE, len(value), w.put_raw(ObjectType.BLOB, value)))
    return raw_tree(w, entries), sum(e[2] for e in entries)


def craft(
    root: Path,
    *,
    author: str = "Mallory <m@evil>",
    message: str = "crafted",
    meta: dict[str, Any] | None = None,
    files: Files | None = None,
    branch: str = "evil",
    sign_with: Any = None,
) -> str:
    """A commit on ``branch`` (parented on HEAD) whose ``data/`` holds ``files``, written
    with the store's own writer: what a remote writer could publish. Returns its hex id."""
    with Repo.open(root) as repo:
        _, head = repo.refs.head()
        with repo.store.writer() as w:
            top, _ = _put_files(w, {b"data": files or {b"a.txt": b"alpha\n"}})
            commit = Commit(
                top,
                (head,) if head else (),
                author,
                time.time_ns(),
                message,
                {"data": "dataset"},
                meta or {},
            )
            if sign_with is not None:
                from dvault.signing import sign

                signed = sign(commit, sign_with)
                assert isinstance(signed, Commit)
                commit = signed
            cid = w.put(commit)
        repo.refs.update(f"refs/heads/{branch}", cid, "crafted")
    return cid.hex()


def tree_of(top: Path, skip: Path | None = None) -> dict[str, bytes | str]:
    """Every file (content), link (target) and folder under ``top``, but ``skip``."""
    found: dict[str, bytes | str] = {}
    for dirpath, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if Path(dirpath, d) != skip]
        for name in dirs + files:
            path = Path(dirpath, name)
            rel = path.relative_to(top).as_posix()
            if path.is_symlink():
                found[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                found[rel] = path.read_bytes()
            else:
                found[rel] = "dir"
    return found
