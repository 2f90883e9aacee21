"""Damage done to a remote behind dvault's back is detected: corrupt, rewritten or missing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dvault.commitobjects import canonical_json
from dvault.hashing import ObjectType, object_id
from dvault.store.pack import read_footer
from tests.cli.helpers import Project, one_error_line

from .conftest import RemoteTarget, clone, tree_digests


def _blob_location(proj: Project, rel: str) -> tuple[str, str, int]:
    """(object id hex, remote pack key, offset of the middle of its stored bytes) of a
    small file's blob."""
    oid = object_id(ObjectType.BLOB, (proj.root / rel).read_bytes())
    for pack in (proj.root / ".dvault" / "packs").glob("*.pack"):
        for entry in read_footer(pack):
            if entry.id == oid:
                return oid.hex(), f"packs/{pack.name}", entry.offset + entry.stored_len // 2
    raise AssertionError(f"{rel} is in no local pack")


def _gone_or_empty(path: Path) -> bool:
    return not path.exists() or not any(path.iterdir())


def test_corrupt_pack_on_remote_is_detected(
    ml: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """A flipped byte in a remote pack fails verify --read-data and a clone leaves nothing."""
    ml.ok("push", "origin", "main", "v1")
    oid, key, offset = _blob_location(ml, "data/images/img03.bin")
    damaged = bytearray(remote.read(key))
    damaged[offset] ^= 0x5A
    remote.overwrite(key, bytes(damaged))
    assert remote.read(key) == bytes(damaged)

    ml.ok("verify", "--remote", "origin")  # presence only: everything is still there
    result = ml.run("verify", "--remote", "origin", "--read-data")
    assert result.code == 1, result.describe()
    assert "Traceback" not in result.err
    assert oid in result.err
    assert "data/images/img03.bin" in result.err

    dest = tmp_path / "copy"
    result = Project(tmp_path, remote.env).run(*remote.clone_args(dest))
    assert result.code == 3, result.describe()
    assert oid in one_error_line(result)
    assert _gone_or_empty(dest)


def _last_entry(remote: RemoteTarget) -> tuple[str, dict[str, Any]]:
    key = remote.log_keys()[-1]
    return key, json.loads(remote.read(key))


def test_rewritten_ref_log_is_detected(ml: Project, remote: RemoteTarget, tmp_path: Path) -> None:
    """Replacing the last ref-log entry with a valid-looking one makes fetch and verify fail."""
    ml.ok("push", "origin", "main", "v1")
    copy = clone(remote, tmp_path / "copy")
    before = tree_digests(copy.root)
    key, entry = _last_entry(remote)
    update = entry["updates"][-1]
    assert isinstance(update["new"], str)
    update["new"] = update["new"][::-1]  # still 64 hex digits, chain fields intact
    remote.overwrite(key, canonical_json(entry))

    result = copy.run("fetch")
    assert result.code != 0, result.describe()
    assert "rewritten" in one_error_line(result)
    result = copy.run("verify", "--remote", "origin")
    assert result.code == 1, result.describe()
    assert "rewritten" in result.err
    assert "Traceback" not in result.err
    result = ml.run("push", "--force")  # the pusher's own record catches it too
    assert result.code != 0, result.describe()
    assert "rewritten" in one_error_line(result)
    assert tree_digests(copy.root) == before


def test_truncated_ref_log_is_detected(ml: Project, remote: RemoteTarget, tmp_path: Path) -> None:
    """Deleting the last ref-log entry makes fetch report truncation, and verify fail."""
    ml.ok("push", "origin", "main")
    ml.ok("push", "origin", "v1")
    copy = clone(remote, tmp_path / "copy")
    key, _ = _last_entry(remote)
    remote.delete(key)

    result = copy.run("fetch")
    assert result.code != 0, result.describe()
    assert "truncated" in one_error_line(result)
    result = copy.run("verify", "--remote", "origin")
    assert result.code == 1, result.describe()
    assert "truncated" in result.err
    assert "Traceback" not in result.err


def test_missing_pack_is_reported_and_changes_nothing(
    ml: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """A pack deleted from the remote fails verify, pull and clone, each without damage."""
    ml.ok("push", "origin", "main", "v1")
    stale = clone(remote, tmp_path / "stale")
    stale_files, stale_head = tree_digests(stale.root), stale.head()

    before = set(remote.packs())
    ml.write("data/images/img50.bin", os.urandom(300_000))
    ml.ok("add", "data")
    ml.commit("v2 images")
    ml.ok("push")
    new = {key: size for key, size in remote.packs().items() if key not in before}
    doomed = max(new, key=lambda key: new[key])
    remote.delete(doomed)
    lost = object_id(ObjectType.BLOB, (ml.root / "data/images/img50.bin").read_bytes()).hex()

    result = ml.run("verify", "--remote", "origin")
    assert result.code == 1, result.describe()
    assert "Traceback" not in result.err
    assert "missing" in result.err
    assert lost in result.err
    assert "data/images/img50.bin" in result.err

    result = stale.run("pull")
    assert result.code == 3, result.describe()
    one_error_line(result)
    assert tree_digests(stale.root) == stale_files
    assert stale.head() == stale_head
    stale.ok("status", "--exit-code")

    dest = tmp_path / "fresh"
    result = Project(tmp_path, remote.env).run(*remote.clone_args(dest))
    assert result.code == 3, result.describe()
    one_error_line(result)
    assert _gone_or_empty(dest)
