"""When the data is not at the commit dvault.lock pins (real git, hooks installed): status
and the commands that read the workspace say so, and each printed fix, run as printed,
ends with the workspace at the pin and nothing lost."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.cli.helpers import one_error_line
from tests.cli.hint_commands import run_line

from .conftest import V1, GitProject, change_data

V2 = {**V1, "a.txt": b"alpha, relabelled on branch b\n"}


def _branch_b(hooked: GitProject) -> str:
    """Branch b pins V2 (a.txt changed); git and data are back on main (V1). Returns b's
    pinned commit."""
    hooked.git("checkout", "-q", "-b", "b")
    change_data(hooked, V2, "relabel on b")
    pinned = hooked.pin()
    hooked.git("checkout", "-q", "main")
    assert (hooked.root / "data/a.txt").read_bytes() == V1["a.txt"]
    return pinned


def _pin_line(text: str) -> str:
    lines = [line for line in text.splitlines() if "dvault.lock pins" in line]
    assert len(lines) == 1, text
    return lines[0]


def _hints(line: str) -> list[str]:
    """The commands a line prints between backquotes."""
    return re.findall(r"`([^`]+)`", line)


def _run_hint(proj: GitProject, hint: str) -> None:
    words = hint.split()
    if words[0] == "git":
        proj.git(*words[1:])
    else:
        assert words[0] == "dvault", hint
        proj.ok(*words[1:])


def _half_switched(hooked: GitProject) -> tuple[str, str]:
    """An uncommitted edit of data/a.txt on main, then `git checkout b`: git moves, the
    post-checkout hook refuses to overwrite the edit, the data stays on main's pin."""
    pinned = _branch_b(hooked)
    here = hooked.pin()
    hooked.write("data/a.txt", b"precious unsaved edit\n")
    result = hooked.git("checkout", "-q", "b", check=False)
    assert result.code != 0 and "data/a.txt" in result.err, result.describe()
    assert hooked.git("rev-parse", "--abbrev-ref", "HEAD").out.strip() == "b"
    assert hooked.pin() == pinned
    return pinned, here


def test_half_switched_status_names_the_mismatch_and_keep_hint_works(
    hooked: GitProject,
) -> None:
    """status names both commits and the conflicting path; `dvault checkout --pin` refuses
    with one line, changing nothing; the printed way to keep the edit (`git checkout -`,
    commit there) works, and `git checkout b` then brings b's data with the edit kept on
    main."""
    pinned, here = _half_switched(hooked)
    status = hooked.ok("status")
    line = _pin_line(status.out)
    assert f"dvault.lock pins {pinned[:12]}, the workspace is at {here[:12]}" in line
    assert "data/a.txt" in line and "workspace clean" not in status.out
    state = hooked.status()["pin"]
    assert state == {
        "commit": pinned,
        "head": here,
        "state": "differs",
        "conflicts": ["data/a.txt"],
        "error": None,
    }
    assert _hints(line) == [
        "git checkout -",
        "dvault stash push && dvault checkout --pin",
        "dvault checkout --force --pin",
    ]
    # the plain command refuses, names the edit, changes nothing
    refused = hooked.fails(1, "checkout", "--pin")
    assert "data/a.txt" in refused.err, refused.describe()
    assert (hooked.root / "data/a.txt").read_bytes() == b"precious unsaved edit\n"
    # keep it: back to main as printed, commit there (data and git)
    _run_hint(hooked, _hints(line)[0])
    assert hooked.git("rev-parse", "--abbrev-ref", "HEAD").out.strip() == "main"
    assert "dvault.lock pins" not in hooked.ok("status").out
    hooked.ok("commit", "-a", "-m", "the edit, on main")
    hooked.git("add", "dvault.lock")
    hooked.git("commit", "-q", "-m", "the edit, on main")
    hooked.git("checkout", "-q", "b")
    assert (hooked.root / "data/a.txt").read_bytes() == V2["a.txt"]
    assert hooked.ok("status", "--json").json()["pin"]["state"] == "match"
    hooked.git("checkout", "-q", "main")
    assert (hooked.root / "data/a.txt").read_bytes() == b"precious unsaved edit\n"


def test_half_switched_force_hint_checks_out_the_pin(hooked: GitProject) -> None:
    """The printed `dvault checkout --force --pin` ends with the workspace at b's pin, the
    edit it overwrote copied to .dvault/lost+found, and nothing to commit."""
    pinned, _ = _half_switched(hooked)
    line = _pin_line(hooked.ok("status").out)
    _run_hint(hooked, _hints(line)[2])
    kept = list((hooked.root / ".dvault" / "lost+found").glob("*/data/a.txt"))
    assert [k.read_bytes() for k in kept] == [b"precious unsaved edit\n"]
    assert hooked.ok("log", "-n", "1", "--json").json()[0]["id"] == pinned
    assert (hooked.root / "data/a.txt").read_bytes() == V2["a.txt"]
    status = hooked.ok("status")
    assert "dvault.lock pins" not in status.out
    assert "nothing to commit, workspace clean" in status.out
    assert "1 file(s) kept in .dvault/lost+found" in status.out
    assert hooked.git("status", "--porcelain").out == ""  # the lock is b's, byte for byte
    again = hooked.ok("checkout", "--pin", "--json").json()
    # b's data is dvault branch b's tip, and git is on b: HEAD is attached to it
    assert again == {"pin": pinned, "branch": "b", "summary": f"data already at {pinned[:12]}"}


def test_half_switched_stash_hint_sets_the_edit_aside(hooked: GitProject) -> None:
    """The printed `dvault stash push && dvault checkout --pin`, run as printed, brings b's
    data; the edit is in the stash, and `dvault stash pop` on main (where it belongs)
    brings it back byte for byte."""
    pinned, _ = _half_switched(hooked)
    line = _pin_line(hooked.ok("status").out)
    run_line(hooked, _hints(line)[1])
    assert hooked.status()["pin"]["state"] == "match"
    assert hooked.status()["head"] == pinned
    assert (hooked.root / "data/a.txt").read_bytes() == V2["a.txt"]
    assert len(hooked.ok("stash", "list", "--json").json()) == 1
    hooked.git("checkout", "-q", "main")
    hooked.ok("stash", "pop")
    assert (hooked.root / "data/a.txt").read_bytes() == b"precious unsaved edit\n"
    assert hooked.ok("stash", "list", "--json").json() == []


def test_unrelated_edit_is_carried_to_the_pin(hooked: GitProject) -> None:
    """Without hooks git moves alone; every reader says so (status, diff, add on stderr),
    and `dvault checkout --pin` as printed brings b's data, carrying an unrelated edit."""
    pinned = _branch_b(hooked)
    here = hooked.pin()
    hooked.ok("hooks", "uninstall")
    hooked.write("data/sub/c.txt", b"an unrelated edit\n")
    hooked.git("checkout", "-q", "b")
    line = _pin_line(hooked.ok("status").out)
    assert line == (
        f"dvault.lock pins {pinned[:12]}, the workspace is at {here[:12]}: "
        "run `dvault checkout --pin`"
    )
    for args in (["diff"], ["add", "data/sub"]):
        result = hooked.ok(*args)
        assert f"dvault: warning: {line}" in result.err, result.describe()
    _run_hint(hooked, _hints(line)[0])
    assert (hooked.root / "data/a.txt").read_bytes() == V2["a.txt"]
    assert (hooked.root / "data/sub/c.txt").read_bytes() == b"an unrelated edit\n"
    status = hooked.status()
    assert status["pin"]["state"] == "match"
    assert status["head"] == pinned
    assert [c["path"] for c in status["staged"]] == ["data/sub/c.txt"]


def test_commit_off_the_pin_says_what_it_builds_on(v1: GitProject) -> None:
    """`dvault commit` when dvault.lock pins another commit (here `git checkout --
    dvault.lock` put back an older pin) warns before committing: the new commit does not
    build on the pinned data, and dvault.lock will name it instead."""
    v1.git("add", "-A")
    v1.git("commit", "-q", "-m", "data v1")
    pinned = v1.pin()
    v1.write("data/a.txt", b"v2\n")
    v1.ok("commit", "-a", "-m", "v2")
    here = v1.pin()
    v1.git("checkout", "--", "dvault.lock")
    assert v1.pin() == pinned
    v1.write("data/sub/c.txt", b"edit\n")
    result = v1.ok("commit", "-a", "-m", "off the pin")
    assert (
        f"dvault: warning: dvault.lock pinned {pinned[:12]}, but the workspace is at "
        f"{here[:12]}: this commit does not build on the pinned data"
    ) in result.err, result.describe()
    assert v1.pin() != pinned and v1.pin() != here


def _fresh_clone(hooked: GitProject, bare: Path, tmp_path: Path, name: str = "clone") -> GitProject:
    hooked.git("push", "-q", "origin", "main")
    clone = GitProject(tmp_path / name, hooked.env)
    subprocess.run(
        ["git", "clone", "-q", "-b", "main", str(bare), str(clone.root)],
        env=hooked.env,
        check=True,
    )
    return clone


def test_fresh_clone_status_says_the_pin_is_not_checked_out(
    hooked: GitProject, bare: Path, tmp_path: Path
) -> None:
    """A fresh git clone is not "workspace clean": status says the pin is not checked out;
    the printed `dvault checkout --pin` fetches it and checks it out."""
    want = hooked.data()
    clone = _fresh_clone(hooked, bare, tmp_path)
    status = clone.ok("status")
    line = _pin_line(status.out)
    assert line == (
        f"dvault.lock pins {clone.pin()[:12]}, which is not checked out: "
        "run `dvault checkout --pin`"
    )
    assert "workspace clean" not in status.out
    assert clone.status()["pin"]["state"] == "not-checked-out"
    _run_hint(clone, _hints(line)[0])
    assert clone.data() == want
    status = clone.ok("status")
    assert "nothing to commit, workspace clean" in status.out and "dvault.lock" not in status.out
    assert clone.git("status", "--porcelain").out == ""


def test_fresh_clone_over_other_files_counts_them(
    hooked: GitProject, bare: Path, tmp_path: Path
) -> None:
    """Files of its own where the pin's data goes: `checkout --pin` refuses, naming them;
    status then says how many differ, and each fix it prints works: moving them away and
    `dvault checkout --pin` (one clone), or `dvault checkout --force --pin` (another)."""
    want = hooked.data()
    for fix in (0, 1):
        clone = _fresh_clone(hooked, bare, tmp_path, f"clone{fix}")
        clone.write("data/a.txt", b"garbage\n")
        clone.write("data/b.bin", b"more garbage\n")
        refused = clone.fails(1, "checkout", "--pin")
        assert "data/a.txt" in refused.err and "data/b.bin" in refused.err, refused.describe()
        status = clone.ok("status")
        line = _pin_line(status.out)
        assert "which is not checked out, and 2 file(s) here differ from it" in line
        assert "move them away" in line and "workspace clean" not in status.out
        assert _hints(line) == ["dvault checkout --pin", "dvault checkout --force --pin"]
        if fix == 0:
            kept = tmp_path / "moved-away"
            (clone.root / "data").rename(kept)
        _run_hint(clone, _hints(line)[fix])
        assert clone.data() == want
        assert clone.status()["pin"]["state"] == "match"
    assert (kept / "a.txt").read_bytes() == b"garbage\n"


def test_unreadable_lock_is_one_warning_not_a_failure(hooked: GitProject) -> None:
    """A dvault.lock with conflict markers, or a short commit id: status still answers,
    and says it could not compare; `checkout --pin` refuses with one line."""
    hooked.write("dvault.lock", "<<<<<<< ours\ncommit = 1\n=======\n>>>>>>> theirs\n")
    status = hooked.ok("status")
    assert "is not a valid dvault.lock" in status.out, status.describe()
    assert hooked.status()["pin"]["state"] == "invalid"
    assert "not a valid dvault.lock" in one_error_line(hooked.fails(2, "checkout", "--pin"))
    hooked.write("dvault.lock", 'version = 1\ncommit = "ab"\n')  # not a full id: never looked up
    assert "64 hex digits" in hooked.status()["pin"]["error"]
    assert "64 hex digits" in one_error_line(hooked.fails(2, "checkout", "--pin"))
