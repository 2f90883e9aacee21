"""Erasure is by content: the very bytes a redaction erased, added again in a later
commit, are named by ``add``, ``commit`` and ``push`` in one line each, and never sent
to the remote (a prune would delete them again); the rest of the commit is pushed and
restores from a clone (directory remote and moto S3)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.cli.helpers import Project
from tests.remote.conftest import RemoteTarget, clone, new_project
from tests.remote.prune_helpers import trust_own_key

SECRET = b"name,email\nAda,ada@example.org\n" + os.urandom(6000)
REASON = "GDPR request 42\x1b[31m"
ADMIN = {
    "DVAULT_ADMIN_AWS_ACCESS_KEY_ID": "admin",
    "DVAULT_ADMIN_AWS_SECRET_ACCESS_KEY": "admin",
}
SAID = f"its content was erased on {time.strftime('%Y-%m-%d', time.gmtime())} by "


def _redacted(tmp_path: Path, remote: RemoteTarget) -> Project:
    """v1 holds data/people.csv, v2 drops it, both pushed; then redacted with --remote."""
    proj = new_project(tmp_path / "work", remote.env)
    trust_own_key(proj)
    proj.write("data/people.csv", SECRET)
    proj.write("data/keep.bin", os.urandom(3000))
    proj.ok("add", "data")
    proj.ok("commit", "-m", "v1")
    proj.ok("rm", "data/people.csv")
    proj.ok("commit", "-m", "v2")
    proj.ok(*remote.add_args("origin"))
    proj.ok("push", "origin", "main")
    proj.ok("redact", "data/people.csv", "--reason", REASON, "--remote", "origin")
    return proj


def _warning(err: str, path: str) -> str:
    lines = [line for line in err.splitlines() if SAID in line]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"dvault: warning: {path}: {SAID}")
    assert "GDPR request 42" in line and "\x1b" not in line  # the reason, escaped
    assert "will not be pushed" in line
    return line


def test_erased_bytes_added_again_are_named_and_never_pushed(
    tmp_path: Path, remote: RemoteTarget
) -> None:
    proj = _redacted(tmp_path, remote)
    proj.write("data/copy.csv", SECRET)  # the same bytes, under another name
    proj.write("data/new.bin", fresh := os.urandom(5000))
    _warning(proj.ok("add", "data").err, "data/copy.csv")
    _warning(proj.ok("commit", "-m", "v3: the file is back").err, "data/copy.csv")
    before = set(remote.packs())
    pushed = proj.ok("push", "origin", "main")
    _warning(pushed.err, "data/copy.csv")
    sent = set(remote.packs()) - before
    assert sent and not any(SECRET[-200:] in remote.read(key) for key in sent)
    # prune deletes v1's copy: no byte of the file is left on the remote
    proj.env.update(ADMIN)
    proj.ok("prune", "origin", "--grace", "0", *(["--admin"] if remote.kind == "dir" else []))
    assert not any(SECRET[-200:] in remote.read(key) for key in remote.packs())
    # the rest of v3 was pushed: a clone restores it, and names the erased file
    other = clone(remote, tmp_path / "other")
    assert (other.root / "data" / "new.bin").read_bytes() == fresh
    assert not (other.root / "data" / "copy.csv").exists()
    # a second push has nothing to send and says nothing more
    again = proj.ok("push", "origin", "main")
    assert SAID not in again.err


def test_no_record_no_warning(tmp_path: Path, remote_env: dict[str, str]) -> None:
    """A clone without an erasure record adds and pushes the same bytes silently."""
    proj = new_project(tmp_path / "plain", remote_env)
    proj.write("data/people.csv", SECRET)
    added = proj.ok("add", "data")
    assert SAID not in added.err
    assert SAID not in proj.ok("commit", "-m", "v1").err
