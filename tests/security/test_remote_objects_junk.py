"""Issue 17, item 10 (the object half): one junk object must not brick a remote.

Anyone who may create files on a remote can add a ``<64 hex>.pack`` of garbage, a FIFO
or a symlink where a pack or a key slot is expected, an oversized file, or dozens of key
slots. Each test does that for real through the real ``dvault`` CLI: push, clone and fetch
go on (a junk pack is a *hole*, reported once), ``verify --remote`` lists it and fails,
nothing hangs, and every read is bounded by the caller's stated size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dvault.remote.keys import RepoKeys, make_slot
from tests.cli.helpers import Project, run_dvault
from tests.remote.conftest import moto_server, remote_env, s3_target
from tests.security._remote_objects_helpers import same_data, small_project

__all__ = ["moto_server", "remote_env"]  # fixtures, re-exported for pytest

HANG_GUARD_S = 60
"""A command that blocks on a FIFO never returns: the run is cut off after this long
(a guard against hanging the suite, not a timing assertion)."""


def test_junk_fifo_and_symlink_packs_do_not_brick_a_remote(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    root = tmp_path / "nas" / "remote"
    proj = small_project(tmp_path / "work", remote_env, str(root))
    proj.ok("push")
    junk = "ab" * 32
    (root / "packs" / f"{junk}.pack").write_bytes(os.urandom(4096))  # no trailer at all
    os.mkfifo(root / "packs" / f"{'cd' * 32}.pack")  # opening it for reading would block
    (root / "packs" / f"{'ef' * 32}.pack").symlink_to("/dev/zero")

    dest = tmp_path / "copy"
    result = run_dvault(["clone", str(root), str(dest)], tmp_path, remote_env, HANG_GUARD_S)
    assert result.code == 0, result.describe()
    assert result.err.count(junk) == 1, result.describe()  # reported once, named
    copy = Project(dest, remote_env)
    assert same_data(proj, copy)
    copy.write("data/private/a.bin", b"changed")
    copy.ok("commit", "-a", "-m", "v2")
    again = copy.ok("push")
    assert junk not in again.err  # known now: not reported on every command
    result = copy.run("verify", "--remote", "origin")
    assert result.code == 1, result.describe()
    assert f"packs/{junk}.pack cannot be read" in result.err


def test_a_flood_of_junk_key_slots_does_not_stop_unlocking(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    """65 key-slot files (garbage, oversized, a FIFO, and well-formed slots for the
    remote's key that no passphrase opens) next to the real one: a new clone still
    unlocks (the marker names the first slot; the rest are tried cheapest first, at most
    16, the others ignored with a warning) and nothing hangs."""
    root = tmp_path / "nas" / "remote"
    env = {**remote_env, "DVAULT_PASSPHRASE": "correct horse battery"}
    proj = small_project(tmp_path / "work", env, str(root), "--encrypt", "--kdf-cost", "16")
    proj.ok("push")
    key_id = json.loads((root / "dvault-remote.json").read_bytes())["encryption"]["key_id"]
    keys = root / "keys"
    forged = json.loads(make_slot(RepoKeys.derive(os.urandom(32)), "not it", 16))
    forged["key_id"] = key_id  # well-formed, the remote's key id, opening with nothing
    forged["kdf"]["log_n"] = 14  # cheaper than the real slot: tried before it, were it not hinted
    for i in range(40):
        (keys / f"{i:02d}junk{'0' * 8}.json").write_text(json.dumps(forged))
    for i in range(23):
        (keys / f"{i:02d}garbage.json").write_bytes(os.urandom(300))
    with open(keys / "00huge.json", "wb") as f:  # sparse: 1 GiB that must not be read
        f.truncate(1 << 30)
    os.mkfifo(keys / "00fifo.json")

    dest = tmp_path / "copy"
    result = run_dvault(["clone", str(root), str(dest)], tmp_path, env, HANG_GUARD_S)
    assert result.code == 0, result.describe()
    assert same_data(proj, Project(dest, env))
    # a wrong passphrase costs at most 16 scrypt runs, whatever the remote holds
    wrong = {**env, "DVAULT_PASSPHRASE": "wrong passphrase"}
    other = tmp_path / "other"
    result = run_dvault(["clone", str(root), str(other)], tmp_path, wrong, HANG_GUARD_S)
    assert result.code == 2, result.describe()
    assert "none of its 16 key slot(s) opens with it" in result.err
    assert "key slot files" in result.err and "ignored" in result.err


def test_every_read_is_bounded_by_the_callers_limit(
    tmp_path: Path, moto_server: str, remote_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Backend.read(key, limit)`` refuses a larger file before reading its body (S3:
    from ``ContentLength``), and a directory remote serves regular files only."""
    from dvault.remote.backend import MAX_KEY_SLOT, RemoteError, RemoteSpec, TooLarge
    from dvault.remote.directory import DirectoryBackend
    from dvault.remote.s3 import S3Backend

    (tmp_path / "remote").mkdir()  # a backend never creates its directory
    backend = DirectoryBackend(tmp_path / "remote")
    backend.create("keys/big.json", bytes(MAX_KEY_SLOT + 1))
    with pytest.raises(TooLarge):
        backend.read("keys/big.json", MAX_KEY_SLOT)
    os.mkfifo(tmp_path / "remote" / "keys" / "fifo.json")
    with pytest.raises(RemoteError, match="not a regular file"):
        backend.read("keys/fifo.json", MAX_KEY_SLOT)
    assert "keys/fifo.json" not in backend.list("keys/")

    target = s3_target(moto_server, remote_env)
    target.client.put_object(
        Bucket=target.bucket, Key=f"{target.prefix}keys/big.json", Body=bytes(1 << 20)
    )
    for name, value in remote_env.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    s3 = S3Backend(RemoteSpec("origin", target.url, target.endpoint))
    with pytest.raises(TooLarge):
        s3.read("keys/big.json", MAX_KEY_SLOT)
    assert s3.read("keys/big.json", 1 << 20) == bytes(1 << 20)
