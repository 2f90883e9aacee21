"""Checkout of hostile trees: nothing is written outside the work tree, into .git or
.dvault, or through a name the file system would merge with another.

``add`` never produces these trees, so they are forged through the object store API (and,
for clone, pushed by hand to a directory remote): what a malicious remote or a tampering
insider could serve.
"""

from __future__ import annotations

import os
import struct
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from dvault import config as cfg
from dvault.commitobjects import Commit
from dvault.errors import CorruptObject, DvaultError
from dvault.hashing import ObjectId, ObjectType
from dvault.names import root_problem
from dvault.ops.sync import clone
from dvault.remote.backend import RemoteSpec
from dvault.remote.reflog import GENESIS, LogEntry, RefUpdate, entry_key
from dvault.remote.registry import open_backend
from dvault.repo import Repo
from dvault.store.objectstore import ObjectWriter
from dvault.treeobjects import MODE_DIR, MODE_FILE, MODE_LINK, Tree, TreeEntry
from dvault.workspace.safety import UnsafePath, link_problem, probe_case_insensitive

Spec = dict[bytes, Any]  # name -> bytes (file) | ("link", target) | Spec (directory)


def _put(writer: ObjectWriter, spec: Spec) -> TreeEntry:
    entries = []
    for name, value in spec.items():
        if isinstance(value, dict):
            sub = _put(writer, value)
            entries.append(TreeEntry(name, MODE_DIR, sub.size, sub.id))
        elif isinstance(value, tuple):
            target = value[1]
            oid = writer.put_raw(ObjectType.BLOB, target)
            entries.append(TreeEntry(name, MODE_LINK, len(target), oid))
        else:
            oid = writer.put_raw(ObjectType.BLOB, value)
            entries.append(TreeEntry(name, MODE_FILE, len(value), oid))
    tree = Tree(tuple(sorted(entries, key=lambda e: e.name)))
    # encoded by hand: the encoder refuses the names a forger wants (writers never store
    # what readers refuse), so the bytes are made here and stored as they are
    body = bytes([1]) + b"".join(
        struct.pack(">IQ32sH", e.mode, e.size, e.id, len(e.name)) + e.name for e in tree.entries
    )
    return TreeEntry(b"", MODE_DIR, tree.size, writer.put_raw(ObjectType.TREE, body))


def forge(repo: Repo, spec: Spec, branch: str = "evil") -> ObjectId:
    """A commit on ``branch`` whose tree is ``spec``, parented on HEAD."""
    _, head = repo.refs.head()
    with repo.store.writer() as writer:
        root = _put(writer, spec)
        roots = {  # every top-level name a valid root can be: the paths are under roots
            os.fsdecode(name): "dataset"
            for name in spec
            if root_problem(os.fsdecode(name), "dataset") is None
        }
        commit = Commit(
            root.id, (head,) if head else (), "Mallory <m@evil>", time.time_ns(), "forged", roots
        )
        cid = writer.put(commit)
    repo.refs.update(f"refs/heads/{branch}", cid, "forged")
    return cid


def workspace(root: Path) -> dict[str, Any]:
    """Every path under ``root`` (outside .dvault/tmp) with its content or link target,
    plus the repository's HEAD and refs: what a refused checkout must leave unchanged."""
    found: dict[str, Any] = {}
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(dirpath, d) != str(root / ".dvault" / "tmp")]
        for name in names + dirs:
            full = Path(dirpath, name)
            rel = full.relative_to(root).as_posix()
            if rel.startswith(".dvault/") and not rel.startswith((".dvault/HEAD", ".dvault/refs")):
                continue
            if full.is_symlink():
                found[rel] = ("link", os.readlink(full))
            elif full.is_file():
                found[rel] = full.read_bytes()
            else:
                found[rel] = "dir"
    return found


@pytest.fixture
def base(repo: Repo) -> Repo:
    (repo.root / "data").mkdir()
    (repo.root / "data" / "a.txt").write_bytes(b"alpha\n")
    repo.add([repo.root / "data"])
    repo.commit("base")
    return repo


def refused(repo: Repo, spec: Spec, match: str, **checkout: Any) -> None:
    """Checking out a forged ``spec`` fails with ``match`` and changes nothing at all."""
    forge(repo, spec)
    before = workspace(repo.root)
    head = repo.refs.head()
    with pytest.raises(DvaultError, match=match) as caught:
        repo.checkout("evil", accept_roots=True, **checkout)  # the forger's roots accepted
    assert caught.value.exit_code in (2, 3)
    assert "\n" not in str(caught.value)
    assert workspace(repo.root) == before
    assert repo.refs.head() == head
    assert not (repo.root.parent / "pwned").exists()


# -- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [b"..", b".", b"", b"x/../../pwned", b"/tmp/pwned", b"a\0b"],
    ids=["dotdot", "dot", "empty", "slash-climb", "absolute", "nul"],
)
@pytest.mark.parametrize("force", [False, True])
def test_invalid_entry_names_are_refused(base: Repo, name: bytes, force: bool) -> None:
    """Names the format forbids: the tree fails to decode (CorruptObject), even forced."""
    refused(
        base, {b"data": {b"a.txt": b"alpha\n", name: b"pwned"}}, "invalid tree entry", force=force
    )


@pytest.mark.parametrize(
    "path",
    [
        (b".dvault", b"HEAD"),
        (b".dvault", b"refs", b"heads", b"main"),
        (b".git", b"hooks", b"post-checkout"),
        (b"data", b"nested", b".git", b"config"),
        (b"data", b".dvault", b"config"),
        (b"data", b".git"),
    ],
    ids=lambda p: "/".join(x.decode() for x in p),
)
def test_repository_directories_are_refused_at_any_depth(
    base: Repo, path: tuple[bytes, ...]
) -> None:
    """A tree cannot overwrite the repository, plant a git hook or a nested repository."""
    spec: Spec = {b"data": {b"a.txt": b"alpha\n"}}
    node = spec
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = b"ref: refs/heads/pwned\n"
    refused(base, spec, r"is reserved\)", force=True)


def test_add_refuses_paths_inside_reserved_directories(base: Repo) -> None:
    """What checkout refuses cannot be committed: add refuses .git at any depth too."""
    nested = base.root / "data" / "sub" / ".git"
    nested.mkdir(parents=True)
    (nested / "config").write_text("[core]\n")
    with pytest.raises(DvaultError, match=r"inside \.git"):
        base.add([nested / "config"])
    base.add([base.root / "data"])  # a whole directory skips nested .git
    assert b"data/sub/.git/config" not in base.state.stage()


# -- symlinks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ((b"data", b"l"), b"/etc/passwd"),
        ((b"data", b"l"), b"../.."),
        ((b"data", b"deep", b"l"), b"../../../pwned"),
        ((b"data", b"l"), b"./../../pwned"),
        ((b"data", b"l"), b"b/b/b/../../../.."),  # b -> . : climbs four levels, reads as one
        ((b"data", b"l"), b"../.git/hooks"),
        ((b"data", b"l"), b"../.dvault/refs"),
        ((b"data", b"l"), b""),
        ((b"data", b"l"), b"a\0b"),
        ((b"data", b"l"), b"x" * 5000),
    ],
    ids=["absolute", "up", "deep-up", "dot-up", "chain", "git", "dvault", "empty", "nul", "long"],
)
def test_symlinks_out_of_the_work_tree_are_refused(
    base: Repo, link: tuple[bytes, ...], target: bytes
) -> None:
    spec: Spec = {b"data": {b"a.txt": b"alpha\n", b"b": ("link", b".")}}
    node = spec
    for part in link[:-1]:
        node = node.setdefault(part, {})
    node[link[-1]] = ("link", target)
    refused(base, spec, "symlink", force=True)


def test_safe_symlinks_are_checked_out(base: Repo) -> None:
    """Relative links that stay inside (climbing no higher than their own directory)."""
    spec: Spec = {
        b"data": {
            b"a.txt": b"alpha\n",
            b"latest": ("link", b"a.txt"),
            b"sub": {b"up": ("link", b"../a.txt"), b"here": ("link", b"./x/y")},
            b"self": ("link", b"."),
        }
    }
    forge(base, spec)
    base.checkout("evil")
    assert os.readlink(base.root / "data" / "sub" / "up") == "../a.txt"
    assert (base.root / "data" / "latest").read_bytes() == b"alpha\n"


def test_link_rule_examples() -> None:
    assert link_problem(b"l", b"x/y") is None
    assert link_problem(b"d/l", b"../x") is None
    assert link_problem(b"d/l", b"../../x") is not None
    assert link_problem(b"d/l", b"x/../y") is not None
    assert link_problem(b"d/l", b"../.GIT/hooks") is None  # a distinct name on Linux...
    assert link_problem(b"d/l", b"../.GIT/hooks", insensitive=True) is not None  # ...not on macOS


# -- case- and normalization-insensitive file systems --------------------------------------


def set_case_insensitive(repo: Repo, value: Any) -> None:
    config = cfg.load(repo.dir / "config")
    config.setdefault("checkout", {})["case-insensitive"] = value
    cfg.save(repo.dir / "config", config)
    repo.__dict__.pop("config", None)


NFC = unicodedata.normalize("NFC", "caf\u00e9").encode()
NFD = unicodedata.normalize("NFD", "caf\u00e9").encode()


@pytest.mark.parametrize(
    "spec",
    [
        {b"data": {b"a.txt": b"alpha\n", b"Label.txt": b"1", b"label.txt": b"2"}},
        {b"data": {b"a.txt": b"alpha\n", NFC: b"1", NFD: b"2"}},
        {b"data": {b"a.txt": b"alpha\n"}, b"Data": {b"x": b"1"}},  # a collision above the file
        {b"data": {b"a.txt": b"alpha\n", b"H": ("link", b"sub"), b"h": {b"x": b"1"}}},
        {b"data": {b"a.txt": b"alpha\n", b".GIT": {b"config": b"1"}}},
        {b"data": {b"a.txt": b"alpha\n", b".git.": {b"config": b"1"}}},
        {b"data": {b"a.txt": b"alpha\n", ".g\u200cit".encode(): {b"config": b"1"}}},
    ],
    ids=["case", "nfc-nfd", "parent", "link-then-dir", "GIT", "ntfs-dot", "hfs-ignorable"],
)
def test_names_a_case_insensitive_file_system_would_merge_are_refused(
    base: Repo, spec: Spec
) -> None:
    """With checkout.case-insensitive = true (what the probe finds on macOS and Windows):
    refused; on this case-sensitive file system (auto) the same tree checks out as is."""
    set_case_insensitive(base, True)
    refused(base, spec, "case-insensitive|is reserved", force=True)
    set_case_insensitive(base, "auto")
    base.checkout("evil", accept_roots=True)
    assert_materialised(base.root, spec)


def assert_materialised(directory: Path, spec: Spec) -> None:
    for name, value in spec.items():
        path = os.path.join(os.fsencode(directory), name)
        if isinstance(value, dict):
            assert os.path.isdir(path) and not os.path.islink(path)
            assert_materialised(Path(os.fsdecode(path)), value)
        elif isinstance(value, tuple):
            assert os.readlink(path) == value[1]
        else:
            with open(path, "rb") as f:
                assert f.read() == value


def test_probe_finds_this_file_system_case_sensitive_and_leaves_nothing(tmp_path: Path) -> None:
    assert probe_case_insensitive(tmp_path) is False  # Linux tmpfs / ext4
    assert list(tmp_path.iterdir()) == []


def test_bad_setting_is_a_usage_error(base: Repo) -> None:
    set_case_insensitive(base, "sometimes")
    forge(base, {b"data": {b"a.txt": b"beta\n"}})
    with pytest.raises(DvaultError, match=r"checkout\.case-insensitive") as caught:
        base.checkout("evil")
    assert caught.value.exit_code == 2


# -- end to end: the command line and a hostile remote -------------------------------------


def hostile_remote(tmp_path: Path, spec: Spec) -> Path:
    """A directory remote whose main branch is a forged commit: the source's packs are
    copied by hand and the ref-log entry written directly (push would not send it)."""
    src = Repo.init(tmp_path / "mallory")
    with src:
        cid = forge(src, spec, branch="main")
        remote = tmp_path / "remote"
        remote.mkdir()  # a directory backend never creates its directory
        backend = open_backend(RemoteSpec("r", str(remote)))
        for pack in (src.dir / "packs").glob("*.pack"):
            backend.create(f"packs/{pack.name}", pack.read_bytes())
        update = RefUpdate("refs/heads/main", None, cid.hex())
        entry = LogEntry(0, GENESIS, (update,), time.time_ns(), "mallory", "evil")
        backend.create(entry_key(0), entry.encode())
    return remote


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({b"data": {b"l": ("link", b"/etc")}}, "symlink 'data/l' -> '/etc'"),
        ({b".git": {b"hooks": {b"post-checkout": b"#!/bin/sh\n"}}}, r"\.git is reserved"),
        ({b"data": {b"..": {b"pwned": b"x"}}}, "invalid tree entry"),
    ],
    ids=["symlink", "git-hook", "dotdot"],
)
def test_clone_of_a_hostile_remote_is_refused_and_leaves_nothing(
    tmp_path: Path, spec: Spec, match: str
) -> None:
    remote = hostile_remote(tmp_path, spec)
    dest = tmp_path / "victim"
    with pytest.raises(CorruptObject, match=match):
        clone(str(remote), dest)
    assert not dest.exists()
    assert not (tmp_path / "pwned").exists()


def test_unsafe_path_is_a_corrupt_object() -> None:
    """Callers that handle damaged objects handle hostile ones the same way."""
    assert issubclass(UnsafePath, CorruptObject)
