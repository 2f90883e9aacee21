"""pre-push and fresh clones: no pushed git commit points at data the remote lacks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .conftest import V1, GitProject, change_data, remote_refs
from .test_checkout_merge import V2

V3 = {**V2, "b.bin": b"\x00" * 5000}


def _pins_of_pushed(proj: GitProject, ref: str) -> dict[str, str]:
    """git sha -> pinned dvault commit for every commit on ``ref`` that has a dvault.lock."""
    pins = {}
    for sha in proj.git("rev-list", ref).out.split():
        shown = proj.git("show", f"{sha}:dvault.lock", check=False)
        if shown.code == 0:
            pins[sha] = proj.pin(sha)
    return pins


def _pushed(hooked: GitProject, bare: Path) -> dict[str, tuple[str, ...]]:
    """Two data versions in git history, pushed to ``bare``; returns the v2 snapshot."""
    change_data(hooked, V2, "v2")
    result = hooked.git("push", "-q", "origin", "main")
    assert "dvault: pre-push: pushed the data of 2 pin(s)" in result.err, result.describe()
    return hooked.data()


def test_pre_push_pushes_every_pinned_version(
    hooked: GitProject, bare: Path, dvault_remote: Path
) -> None:
    """After `git push` the dvault remote verifies and has refs/pins/<pin> for each commit."""
    _pushed(hooked, bare)
    assert hooked.sha("main", cwd=bare) == hooked.sha("main")
    pins = _pins_of_pushed(hooked, "main")
    assert len(set(pins.values())) == 2
    refs = remote_refs(dvault_remote)
    for sha, pin in pins.items():
        assert refs.get(f"refs/pins/{pin}") == pin, (sha, refs)
    verify = hooked.ok("verify", "--remote", "origin", "--read-data")
    assert "OK" in verify.out
    # a second push of one more commit adds only the new pin, and the log still verifies
    change_data(hooked, V3, "v3")
    hooked.git("push", "-q", "origin", "main")
    assert remote_refs(dvault_remote).get(f"refs/pins/{hooked.pin()}") == hooked.pin()
    hooked.ok("verify", "--remote", "origin")


def test_pre_push_refuses_when_remote_unreachable(
    hooked: GitProject, bare: Path, dvault_remote: Path
) -> None:
    """A dvault remote that cannot be written refuses the git push; bare gets nothing."""
    config = hooked.root / ".dvault" / "config"
    text = config.read_text()
    assert str(dvault_remote) in text
    config.write_text(text.replace(str(dvault_remote), "/dev/null/x"))
    result = hooked.git("push", "-q", "origin", "main", check=False)
    assert result.code != 0, result.describe()
    assert re.search(r"^dvault: pre-push: .*(/dev/null/x|remote)", result.err, re.M), result.err
    assert "Traceback" not in result.err
    heads = hooked.git("ls-remote", "--heads", str(bare)).out
    assert heads == "", heads
    missing = hooked.git("cat-file", "-e", hooked.sha(), cwd=bare, check=False)
    assert missing.code != 0


def test_pre_push_with_unmounted_remote_says_so(
    hooked: GitProject, bare: Path, dvault_remote: Path, tmp_path: Path
) -> None:
    """A pushed-to remote that vanished (NAS unmounted) refuses the push, naming no tampering."""
    _pushed(hooked, bare)
    pushed = hooked.sha()
    unmounted = tmp_path / "elsewhere"
    dvault_remote.rename(unmounted)
    new = change_data(hooked, V3, "v3")
    result = hooked.git("push", "-q", "origin", "main", check=False)
    assert result.code != 0, result.describe()
    lines = [ln for ln in result.err.splitlines() if ln.startswith("dvault:")]
    assert len(lines) == 1 and lines[0].startswith("dvault: pre-push: "), result.err
    assert str(dvault_remote) in lines[0]
    assert "truncated" not in lines[0] and "rewritten" not in lines[0], lines[0]
    assert hooked.sha("main", cwd=bare) == pushed
    unmounted.rename(dvault_remote)  # mounted again: the same push goes through
    hooked.git("push", "-q", "origin", "main")
    assert hooked.sha("main", cwd=bare) == new
    hooked.ok("verify", "--remote", "origin")


def test_fresh_clone_and_pull_reproduce_pinned_bytes(
    hooked: GitProject, bare: Path, tmp_path: Path
) -> None:
    """`git clone -b main` + `dvault pull` gives the exact pinned bytes and a clean status."""
    want = _pushed(hooked, bare)
    clone = GitProject(tmp_path / "clone", hooked.env)
    subprocess.run(
        ["git", "clone", "-q", "-b", "main", str(bare), str(clone.root)],
        env=hooked.env,
        check=True,
    )
    assert not (clone.root / "data").exists()
    clone.ok("pull")
    assert clone.data() == want
    assert clone.ok("status", "--exit-code").code == 0
    assert clone.ok("log", "-n", "1", "--json").json()[0]["id"] == clone.pin("HEAD")
    assert clone.lock() == clone.lock("HEAD")  # pull did not rewrite the committed pin
    assert clone.git("status", "--porcelain").out == ""


def test_checkout_in_fresh_clone_fetches_missing_pins(
    hooked: GitProject, bare: Path, tmp_path: Path
) -> None:
    """With hooks in a fresh clone (empty store), `git checkout` fetches each pinned version."""
    want2 = _pushed(hooked, bare)
    hooked.git("checkout", "-q", "HEAD~1")
    want1 = hooked.data()
    assert want1 != want2
    clone = GitProject(tmp_path / "clone", hooked.env)
    subprocess.run(
        ["git", "clone", "-q", "-b", "main", str(bare), str(clone.root)],
        env=hooked.env,
        check=True,
    )
    clone.ok("hooks", "install")
    result = clone.git("checkout", "-q", "HEAD~1")
    assert "dvault: post-checkout: data checked out at" in result.err, result.describe()
    assert clone.data() == want1
    assert clone.ok("status", "--exit-code").code == 0
    clone.git("checkout", "-q", "main")
    assert clone.data() == want2
    assert clone.ok("status", "--exit-code").code == 0
    assert clone.git("status", "--porcelain").out == ""
    assert set(V1) <= set(want1)
