"""Issue 17, item 12: trust on first use, and something better.

A fresh clone accepted whatever history it was shown. Now it can be given an anchor:
``clone --expect HASH`` (the blake3 of a ref-log entry, printed by push and by verify
--remote, published by the team) must be on the chain; and ref-log entries signed by the
pusher's key are checked against the trusted signers when ``[fetch] require-signed-log``
names a ref (git's signed pushes). ``verify --remote`` reports unsigned and untrusted
entries."""

from __future__ import annotations

import dataclasses
import re
import shutil
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dvault.commitobjects import Signature
from dvault.remote.reflog import LogEntry, RefUpdate, entry_key
from dvault.signing import generate
from tests.cli.helpers import Project, one_error_line

from ._reflog_helpers import (
    Owner,
    attacker,
    chain_head,
    clone_victim,
    digest,
    forge,
    isolated_env,
    tracking,
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return isolated_env(tmp_path / "home", monkeypatch)


def _head(result_out: str) -> str:
    """The hash push prints for the entry it appended (what a team publishes)."""
    found = re.search(r"ref-log entry \d+: ([0-9a-f]{64})", result_out)
    assert found, result_out
    return found.group(1)


def test_clone_expect_refuses_a_history_that_is_not_the_published_one(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The storage serves another (valid) history, or rewrites an early entry so later
    ones stop chaining (holes): a clone told to expect the published head refuses both and
    leaves nothing; the owner's verify --remote reports the rewrite."""
    url = tmp_path / "remote"
    owner = Owner(tmp_path / "owner", str(url))
    first = owner.head()
    owner.push()
    owner.commit("second\n")
    owner.push()
    owner.commit("third\n")
    published = _head(Project(owner.root, env).ok("push").out)
    verified = Project(owner.root, env).ok("verify", "--remote", "origin").out
    assert f"head entry 2: {published}" in verified
    runner = Project(tmp_path, env)
    runner.ok("clone", str(url), str(tmp_path / "good"), "--expect", published)

    saved = tmp_path / "saved"
    shutil.copytree(url, saved)
    other = Owner(tmp_path / "other", str(tmp_path / "other.r"))
    for text in ("x\n", "y\n"):
        other.commit(text)
        other.push()
    shutil.rmtree(url)
    shutil.copytree(tmp_path / "other.r", url)
    result = runner.run("clone", str(url), str(tmp_path / "c1"), "--expect", published)
    assert result.code == 3, result.describe()
    assert "not the history you were told to expect" in one_error_line(result)
    assert not (tmp_path / "c1").exists()

    shutil.rmtree(url)
    shutil.copytree(saved, url)
    rewritten = url / "refs" / "log" / f"{1:016d}.json"
    rewritten.chmod(0o644)
    head0 = digest((url / "refs" / "log" / f"{0:016d}.json").read_bytes())
    entry = LogEntry(1, head0, (RefUpdate("refs/heads/main", first, first[::-1]),), 1, "m", "e")
    rewritten.write_bytes(entry.encode())  # entry 2 no longer chains: a hole
    result = runner.run("clone", str(url), str(tmp_path / "c2"), "--expect", published)
    assert result.code == 3 and "not the history" in result.err, result.describe()
    assert not (tmp_path / "c2").exists()
    result = Project(owner.root, env).run("verify", "--remote", "origin")
    assert result.code == 1 and "rewritten" in result.err, result.describe()


def _forged_signed(key: Ed25519PrivateKey, entry: LogEntry) -> bytes:
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    sig = key.sign(entry.signed_message())
    return dataclasses.replace(entry, signature=Signature(public, sig)).encode()


def test_require_signed_log_refuses_unsigned_or_untrusted_entries(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The owner signs its pushes (it has a key); a clone that requires trusted signatures
    on main follows them, and refuses a forced move appended with the bare pusher
    credential (unsigned) or signed by a key it does not trust; verify --remote lists
    them."""
    url = str(tmp_path / "remote")
    owner = Owner(tmp_path / "owner", url)
    signer = generate().signer_line + "\n"  # the owner's key: its pushes are signed
    first = owner.head()
    owner.push()
    second = owner.commit("second\n")
    owner.push()
    victim = clone_victim(tmp_path, env, url)
    # the victim trusts the owner's key in its own allowed_signers file (never the work tree)
    (Path(env["DVAULT_CONFIG_DIR"]) / "allowed_signers").write_text(signer)
    with open(victim.root / ".dvault" / "config", "a") as f:
        f.write('\n[fetch]\nrequire-signed-log = ["main"]\n')
    victim.ok("fetch")

    backend = attacker(url)
    forge(backend, tmp_path, "refs/heads/main", second, first, force=True)
    for _ in range(2):
        result = victim.run("fetch")
        assert result.code == 3, result.describe()
        line = one_error_line(result)
        assert "refs/heads/main was last set by an unsigned entry" in line
    assert tracking(victim) == second
    result = victim.run("verify", "--remote", "origin")
    assert result.code == 1, result.describe()
    assert "2 signed by trusted signers, 1 unsigned (entries 2)" in result.out, result.describe()

    last, head = chain_head(backend, tmp_path)
    entry = LogEntry(
        last + 1,
        head,
        (RefUpdate("refs/heads/main", first, second, True),),
        time.time_ns(),
        "m",
        "e",
    )
    backend.create(entry_key(last + 1), _forged_signed(Ed25519PrivateKey.generate(), entry))
    result = victim.run("fetch")
    assert result.code == 3, result.describe()
    assert "(not trusted)" in one_error_line(result)
    assert tracking(victim) == second


def test_push_sign_without_a_key_fails_before_uploading(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """``push --sign`` (or ``[push] sign = true``) with no signing key: one line, exit 2,
    and nothing reaches the remote; without the flag the push goes out unsigned."""
    url = tmp_path / "remote"
    owner = Owner(tmp_path / "owner", str(url))
    proj = Project(owner.root, env)
    result = proj.run("push", "--sign")
    assert result.code == 2 and "no signing key" in one_error_line(result), result.describe()
    assert not (url / "refs").exists() and not (url / "packs").exists()
    out = proj.ok("push", "--no-sign").out
    assert "ref-log entry 0:" in out and "signed" not in out
