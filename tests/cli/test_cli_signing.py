"""Signed commits and tags through the real command line: keys, log, verify, review, push."""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

from dvault.commitobjects import Commit
from dvault.repo import Repo

from .helpers import Project, git, git_project, one_error_line


def _keys(proj: Project) -> Path:
    return Path(proj.env["DVAULT_CONFIG_DIR"]) / "keys"


def _trust(proj: Project, name: str | None = None) -> str:
    """Trust a key as a user would; returns the exported line. In a git project: add it
    to .dvaultsigners and commit that to git (trust is read from git's HEAD commit, never
    from the work tree); elsewhere: add it to the user's own allowed_signers file."""
    line = proj.ok("key", "export", *([name] if name else [])).out.strip()
    in_git = (proj.root / ".git").exists()
    target = (
        proj.root / ".dvaultsigners"
        if in_git
        else Path(proj.env["DVAULT_CONFIG_DIR"]) / "allowed_signers"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a") as f:
        f.write(line + "\n")
    if in_git:
        git(proj, "add", ".dvaultsigners")
        git(proj, "commit", "-qm", "trust a signer")
    return line


def _statuses(proj: Project, *args: str) -> list[str]:
    return [c["signature"]["status"] for c in proj.log("--show-signature", *args)]


def test_key_commands(project: Project) -> None:
    """generate writes a 0600 key outside the project and never replaces it; list and
    export show the public half in the trusted-signers line format."""
    out = project.ok("key", "generate").out
    path = _keys(project) / "default.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(project.root.rglob("*.key"))
    before = path.read_bytes()
    again = project.run("key", "generate")
    assert again.code == 2 and "never overwritten" in one_error_line(again)
    assert path.read_bytes() == before
    project.ok("key", "generate", "ci")
    listed = project.ok("key", "list", "--json").json()
    assert [k["name"] for k in listed] == ["ci", "default"]
    line = project.ok("key", "export", "default").out.strip()
    assert line == f"default {listed[1]['public_key']}"
    assert line in out  # generate already told the user what to trust
    assert project.ok("key", "export").out.strip() == line  # "default" wins among several


def test_sign_commits_and_tags_and_show_signatures(tracked: Project) -> None:
    """--sign makes unknown-signer signatures until the key is trusted (here: the user's
    allowed_signers file); log --show-signature and verify report each status."""
    result = tracked.run("commit", "--allow-empty", "-m", "no key yet", "--sign")
    assert result.code == 2 and "dvault key generate" in one_error_line(result)
    tracked.ok("key", "generate")
    tracked.ok("commit", "--allow-empty", "-m", "signed", "--sign")
    assert _statuses(tracked) == ["unknown", "unsigned"]
    _trust(tracked)
    tracked.ok("tag", "v1", "-m", "release", "--sign")
    tracked.ok("commit", "--allow-empty", "-m", "plain")
    assert _statuses(tracked) == ["unsigned", "good", "unsigned"]
    signed = tracked.log("--show-signature")[1]["signature"]
    assert signed["signer"] == "default" and len(signed["fingerprint"]) == 16
    text = tracked.ok("log", "--show-signature").out
    assert f"Signature: good signature by default (key {signed['fingerprint']})" in text
    oneline = tracked.ok("log", "--oneline", "--show-signature").out.splitlines()
    assert "[good sig] signed" in oneline[1] and "[unsigned] plain" in oneline[0]
    assert "Signature" not in tracked.ok("log").out
    tags = tracked.ok("tag", "--json").json()
    assert tags[0]["signed"] is True
    out = tracked.ok("verify").out
    assert "signatures: 2 good, 2 unsigned" in out  # commit + tag good


def _forge(proj: Project, make: str) -> str:
    """Write, through the object store API, a copy of HEAD whose stored signature no
    longer matches ("flip": one signature byte changed; "edit": the message changed but
    the old signature kept) and point branch ``forged`` at it."""
    with Repo.open(proj.root) as repo, repo.locked():
        _, head = repo.head()
        assert head is not None
        commit = repo.read_commit(head)
        assert commit.signature is not None
        if make == "flip":
            sig = commit.signature.sig
            bad = dataclasses.replace(commit.signature, sig=bytes([sig[0] ^ 0x40]) + sig[1:])
            forged: Commit = dataclasses.replace(commit, signature=bad)
        else:
            forged = dataclasses.replace(commit, message="approved by security")
        with repo.store.writer() as writer:
            oid = writer.put(forged)
    proj.ok("branch", "forged", oid.hex())
    return str(oid.hex())


def test_verify_fails_on_a_bad_signature(tracked: Project) -> None:
    """A commit whose stored signature does not verify is damage: verify exits 1 naming
    the commit and the ref; log shows it as BAD."""
    tracked.ok("key", "generate")
    _trust(tracked)
    tracked.ok("commit", "--allow-empty", "-m", "signed", "--sign")
    tracked.ok("verify")
    for make in ("flip", "edit"):
        forged = _forge(tracked, make)
        result = tracked.run("verify")
        assert result.code == 1, result.describe()
        assert f"bad signature on commit {forged}" in result.err
        assert "reachable from branch forged" in result.err
        assert "does not verify" in result.err and "Traceback" not in result.err
        assert _statuses(tracked, "forged")[0] == "bad"
        assert "[BAD SIG]" in tracked.ok("log", "--oneline", "--show-signature", "forged").out
        tracked.ok("branch", "-d", "forged")
    tracked.ok("verify")


def test_review_reports_the_pinned_commits_signature(tmp_path: Path, env: dict[str, str]) -> None:
    proj = git_project(tmp_path / "gitproj", env)
    proj.write("data/a.txt", "alpha\n")
    proj.ok("add", "data")
    proj.ok("key", "generate")
    proj.ok("commit", "-m", "v1", "--sign")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "pin")
    proj.ok("remote", "add", "--init", "origin", str(tmp_path / "remote"))
    proj.ok("push")
    data = proj.ok("review", "--format", "json").json()
    assert data["signature"]["status"] == "unknown"
    _trust(proj)
    data = proj.ok("review", "--format", "json").json()
    assert data["signature"]["status"] == "good" and data["signature"]["signer"] == "default"
    assert "good signature by default" in proj.ok("review").out


def _remote_log(remote: Path) -> list[str]:
    return sorted(p.name for p in (remote / "refs" / "log").glob("*.json"))


def test_push_requires_trusted_signatures_on_named_refs(tracked: Project, tmp_path: Path) -> None:
    """push.require-signed: unsigned or untrusted commits on main and unsigned v* tags are
    refused with one line naming the ref and commit; trusted signatures pass; other
    branches are not affected."""
    with open(tracked.root / ".dvault" / "config", "a") as f:
        f.write('\n[push]\nrequire-signed = ["main", "v*"]\n')
    remote = tmp_path / "remote"
    tracked.ok("remote", "add", "--init", "origin", str(remote))
    first = tracked.head()
    result = tracked.run("push")
    assert result.code == 1, result.describe()
    line = one_error_line(result)
    assert "refs/heads/main" in line and first[:12] in line and "unsigned" in line
    assert not remote.exists() or _remote_log(remote) == []  # nothing reached the remote

    tracked.ok("key", "generate", "mine")
    tracked.ok("key", "generate", "stranger")
    _trust(tracked, "mine")
    tracked.ok("commit", "--allow-empty", "-m", "by a stranger", "--sign", "--key", "stranger")
    stranger = tracked.head()
    result = tracked.run("push")
    assert result.code == 1
    line = one_error_line(result)
    assert stranger[:12] in line and "not a trusted signer" in line

    tracked.ok("branch", "scratch")  # not named by the policy: pushes as before
    tracked.ok("push", "origin", "scratch")
    # main needs every commit it adds signed by a trusted key: rebuild it that way
    tracked.ok("checkout", "-f", "scratch")
    tracked.ok("branch", "-d", "main")
    tracked.ok("branch", "main", first)
    tracked.ok("checkout", "main")
    result = tracked.run("push")  # first commit is already on the remote (via scratch)
    assert result.code == 0, result.describe()
    tracked.ok("commit", "--allow-empty", "-m", "trusted", "--sign", "--key", "mine")
    tracked.ok("push")
    tracked.ok("tag", "v1", "-m", "unsigned release")
    result = tracked.run("push", "origin", "v1")
    assert result.code == 1 and "refs/tags/v1" in one_error_line(result)
    tracked.ok("tag", "v2", "-m", "signed release", "--sign", "--key", "mine")
    result = tracked.run("push", "origin", "v2")  # v1 is on v2's commit: it follows
    assert result.code == 1 and "refs/tags/v1" in one_error_line(result)
    tracked.ok("push", "origin", "v2", "--no-tags")
    log = [json.loads((remote / "refs" / "log" / k).read_text()) for k in _remote_log(remote)]
    pushed = {u["ref"] for entry in log for u in entry["updates"]}
    assert pushed == {"refs/heads/scratch", "refs/heads/main", "refs/tags/v2"}
