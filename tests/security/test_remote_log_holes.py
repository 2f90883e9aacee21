"""Issue 17, item 10 (the ref-log half): one junk object must not brick a remote.

Before the fix the log's length was the number of names under ``refs/log/``, and the
first entry that did not decode, did not chain, or was missing stopped every fetch, pull,
clone and push of every client. The attacker here holds only create-only rights (dvault's
own backend ``create``; entries made with the real encoder where they are well-formed).
Now entries are counted contiguously from 0, and an entry that cannot be on the chain is a
*hole*: reported once as a warning, listed by ``verify --remote`` (which fails), skipped;
honest pushers append after it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dvault.commitobjects import Signature, canonical_json
from dvault.remote.reflog import LogEntry, RefUpdate, entry_key
from tests.cli.helpers import Project
from tests.remote.conftest import moto_server, new_bucket, s3_client

from ._reflog_helpers import (
    Owner,
    attacker,
    chain_head,
    clone_victim,
    forge,
    isolated_env,
    tracking,
)

__all__ = ["moto_server"]  # the session fixture, used by the s3 case


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return isolated_env(tmp_path / "home", monkeypatch)


@pytest.fixture(params=["dir", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """(remote URL, extra options for remote add / clone)."""
    if request.param == "dir":
        yield str(tmp_path / "remote"), []
        return
    endpoint = request.getfixturevalue("moto_server")
    bucket = new_bucket(s3_client(endpoint), lock=False)
    yield f"s3://{bucket}/proj", ["--endpoint", endpoint]


def _warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("dvault: warning:")]


def test_a_junk_entry_is_a_hole_not_a_brick(
    tmp_path: Path, env: dict[str, str], where: tuple[str, list[str]]
) -> None:
    """Garbage at the next position: fetch warns once and goes on, an honest push
    appends after it, a fresh clone works, verify --remote lists it and fails."""
    url, options = where
    endpoint = options[1] if options else None
    owner = Owner(tmp_path / "owner", url, endpoint=endpoint)
    owner.push()
    victim = clone_victim(tmp_path, env, url, *options)
    attacker(url, endpoint).create(entry_key(1), b"\x00 not a ref-log entry")

    result = victim.ok("fetch")
    assert _warnings(result.err) == [
        f"dvault: warning: remote origin ({url}): ref-log entry 1 is not a valid ref-log "
        "entry; skipped (a hole)"
    ], result.describe()
    second = owner.commit("second\n")
    assert owner.push().log_seq == 2  # appended after the hole, chained to entry 0
    result = victim.ok("fetch")
    assert tracking(victim) == second and not _warnings(result.err)
    result = Project(tmp_path, env).ok("clone", url, str(tmp_path / "fresh"), *options)
    assert len(_warnings(result.err)) == 1
    assert (tmp_path / "fresh" / "data" / "a.txt").read_text() == "second\n"
    result = victim.run("verify", "--remote", "origin")
    assert result.code == 1 and "ref-log entry 1 is not a valid" in result.err, result.describe()


def test_entries_beyond_the_end_or_after_a_gap_are_not_followed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """An entry far beyond the end, and a well-formed one after a gap, are not looked at;
    once an honest push fills the gap, the planted entry does not chain: a hole."""
    url = str(tmp_path / "remote")
    owner = Owner(tmp_path / "owner", url)
    first = owner.head()
    owner.push()
    backend = attacker(url)
    backend.create(entry_key(10**16 - 1), b"{}")
    forge(backend, tmp_path, "refs/heads/main", first, "ab" * 32, force=True, seq=2)  # gap: 1
    victim = clone_victim(tmp_path, env, url)
    assert tracking(victim) == first

    honest = owner.commit("honest\n")
    owner.push()  # fills entry 1
    result = victim.ok("fetch")
    assert tracking(victim) == honest
    assert any("ref-log entry 2 does not follow" in w for w in _warnings(result.err))
    later = owner.commit("later\n")
    owner.push()  # entry 3, after the hole
    victim.ok("fetch")
    assert tracking(victim) == later


def test_oversized_misplaced_unchained_and_badly_signed_entries_are_holes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A 5 MiB entry (never read), an entry naming another position, one that does not
    follow the chain, and one whose signature does not verify: four holes, reported once
    each, and the honest pusher's next entry is followed."""
    url = str(tmp_path / "remote")
    owner = Owner(tmp_path / "owner", url)
    owner.push()
    victim = clone_victim(tmp_path, env, url)
    backend = attacker(url)
    _, head = chain_head(backend, tmp_path)
    evil = (RefUpdate("refs/heads/evil", None, "ab" * 32),)
    backend.create(entry_key(1), b" " * (5 << 20))
    backend.create(entry_key(2), LogEntry(7, head, evil, 1, "m", "e").encode())
    backend.create(entry_key(3), LogEntry(3, "cd" * 32, evil, 1, "m", "e").encode())
    value = json.loads(LogEntry(4, head, evil, 1, "m", "e").encode())
    value["signature"] = Signature(b"\x01" * 32, b"\x02" * 64).to_json()  # does not verify
    backend.create(entry_key(4), canonical_json(value))

    honest = owner.commit("honest\n")
    assert owner.push().log_seq == 5
    result = victim.ok("fetch")
    assert tracking(victim) == honest
    assert (victim.root / ".dvault" / "refs" / "remotes" / "origin" / "evil").exists() is False
    warnings = _warnings(result.err)
    for seq, why in (
        (1, "more than a ref-log entry may hold"),
        (2, "names another position"),
        (3, "does not follow the last entry on the chain"),
        (4, "carries a signature that does not verify"),
    ):
        assert any(f"ref-log entry {seq} " in w and why in w for w in warnings), result.describe()
    assert len(warnings) == 4
    assert not _warnings(victim.ok("fetch").err)  # reported once, as the position passes


def test_warnings_show_what_others_chose_escaped(tmp_path: Path, env: dict[str, str]) -> None:
    """A warning names things others chose: here the remote's location (the committed
    config names it; a directory may be called anything) holding an ANSI sequence that
    would clear the line and print a forged all-clear, and a junk entry to warn about.
    The warning reaches stderr escaped, never as raw control bytes."""
    url = str(tmp_path / "nas\x1b[2K\r\x1b]0;all good\x07\u202e")
    owner = Owner(tmp_path / "owner", url)
    owner.push()
    victim = clone_victim(tmp_path, env, url)
    attacker(url).create(entry_key(1), b"\x00 not a ref-log entry")
    result = victim.ok("fetch")
    (warning,) = _warnings(result.err)
    assert "\\x1b[2K\\r\\x1b]0;all good\\x07\\u202e" in warning, result.describe()
    assert not any(c in result.err for c in "\x1b\r\x07\u202e"), result.describe()
