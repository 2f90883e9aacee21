"""The fast path (dvault/cli/fastpath.py) prints what the full command line prints.

``dvault status`` and ``dvault hook`` are answered before typer and click load;
``DVAULT_NO_FAST_PATH=1`` forces the full command line. Every command line below runs
both ways, as the real program, over real workspaces -- clean, dirty with hostile file
names, detached, in git with a broken pin, with lost+found copies and an ignored
committed setting, outside any repository, damaged -- and the two runs must agree byte
for byte: exit code, stdout and stderr.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from dvault.cli.fastpath import OFF, HookArgs, StatusArgs, parse

from .helpers import Project, Result, dvault_command, git, git_project, run_dvault

SLOW = {"DVAULT_NO_FAST_PATH": "1"}

STATUS_LINES: list[list[str]] = [
    ["status"],
    ["status", "--json"],
    ["status", "--exit-code"],
    ["status", "--json", "--exit-code"],
    ["status", "-u"],
    ["status", "--untracked-files", "--json"],
    ["-q", "status"],
    ["status", "--quiet", "--exit-code", "-u"],
    ["--color", "always", "status"],
    ["--color=always", "-q", "status", "-u", "--exit-code"],
    ["--color", "never", "status"],
]
"""Command lines the fast path answers (its parse says so: test_parse_*)."""

FALLBACK_LINES: list[list[str]] = [
    ["status", "--help"],
    ["status", "-v"],
    ["-v", "status", "--json"],
    ["status", "--bogus"],
    ["status", "--jso"],
    ["status", "extra"],
    ["status", "--", "data"],
    ["--color", "ALWAYS", "status"],
    ["--color", "purple", "status"],
    ["status", "-qu"],
    ["-q", "-v", "status"],
]
"""Command lines it leaves to the full command line: the result is the same anyway."""


def both(p: Project, args: list[str], cwd: Path | None = None) -> tuple[Result, Result]:
    """``dvault ARGS`` through the fast path and through the full command line."""
    fast = run_dvault(args, cwd or p.root, p.env)
    slow = run_dvault(args, cwd or p.root, {**p.env, **SLOW})
    return fast, slow


def assert_same(p: Project, lines: list[list[str]], cwd: Path | None = None) -> None:
    for args in lines:
        fast, slow = both(p, args, cwd)
        assert "Traceback" not in fast.err + slow.err, fast.describe()
        fast_err, slow_err = (_TIMING.sub("done in T s", r.err) for r in (fast, slow))
        assert (fast.code, fast.raw, fast_err) == (slow.code, slow.raw, slow_err), (
            f"fast:\n{fast.describe()}\nfull:\n{slow.describe()}"
        )


_TIMING = re.compile(r"done in [0-9.]+ s")
"""-v's timing line (a fallback line): the one thing two runs may print differently."""


HOSTILE = [
    b"data/new\nline.txt",
    b"data/esc\x1b[31mred.txt",
    b"data/tab\tand space.txt",
    b'data/quote"back\\slash.txt',
    "data/bidi\u202eevil.txt".encode(),
    b"data/bad\xffutf8.txt",
    "data/caf\u00e9.txt".encode(),
]


def _write(p: Project, rel: bytes, content: bytes) -> None:
    path = Path(os.fsdecode(os.path.join(os.fsencode(p.root), rel)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def test_clean_and_dirty_workspaces_print_the_same(tracked: Project) -> None:
    """Clean, then staged, modified, deleted and new files (hostile names included, on
    their own and in a new folder), from the root and from a subdirectory with -C."""
    assert_same(tracked, STATUS_LINES + FALLBACK_LINES)
    for rel in HOSTILE[:4]:
        _write(tracked, rel, b"tracked\n")
    tracked.ok("add", "data")
    tracked.commit("hostile names")
    _write(tracked, HOSTILE[0], b"modified\n")
    os.unlink(tracked.root / os.fsdecode(HOSTILE[1]))
    for rel in HOSTILE[4:]:
        _write(tracked, rel, b"new\n")
    _write(tracked, b"data/newdir/a\x1bb/one.txt", b"1\n")
    _write(tracked, b"data/newdir/a\x1bb/two.txt", b"2\n")
    tracked.write("data/b.txt", "bravo, staged\n")
    tracked.ok("add", "data/b.txt")
    tracked.write("data/sub/c.txt", "charlie, not staged\n")
    assert_same(tracked, STATUS_LINES + FALLBACK_LINES)
    # a name that is not UTF-8 reaches a strict UTF-8 stdout as a JSON escape, not a
    # traceback, either way
    strict = {**tracked.env, "PYTHONIOENCODING": "utf-8"}  # a fresh process: it applies
    for off in ("", "1"):
        run = subprocess.run(
            [*dvault_command(), "status", "--json"],
            cwd=tracked.root,
            env={**strict, OFF: off},
            capture_output=True,
            timeout=120,
        )
        assert run.returncode == 0 and b"Traceback" not in run.stderr, run.stderr
        assert "data/bad\udcffutf8.txt" in json.loads(run.stdout)["untracked"]
    sub = [["-C", "data/sub", *args] for args in STATUS_LINES[:6]]
    assert_same(tracked, sub)
    assert_same(tracked, STATUS_LINES[:3], cwd=tracked.root / "data" / "sub")


def test_detached_lost_found_and_warnings_print_the_same(tracked: Project) -> None:
    """HEAD detached at a tag, copies kept by a forced checkout, and a committed setting
    the config ignores (a warning line on stderr)."""
    tracked.ok("tag", "v1")
    tracked.write("data/a.txt", "second\n")
    tracked.commit("second")
    tracked.write("data/a.txt", "LOCAL\n")
    tracked.ok("checkout", "--force", "v1")
    with open(tracked.root / ".dvault" / "config", "a") as f:
        f.write("\n[gc]\nlost_found_days = 0\n")
    assert_same(tracked, STATUS_LINES)
    out = run_dvault(["status"], tracked.root, tracked.env).out
    assert "HEAD detached at v1" in out and "lost+found" in out


def test_a_broken_pin_in_git_prints_the_same(tmp_path: Path, env: dict[str, str]) -> None:
    """In a git work tree whose dvault.lock cannot be read: the pin's warning line."""
    proj = git_project(tmp_path / "g", env)
    proj.write("data/a.txt", "a\n")
    proj.ok("add", "data")
    proj.commit("first")
    (proj.root / "dvault.lock").write_text("not a lock file\n")
    git(proj, "add", "dvault.lock")
    assert_same(proj, STATUS_LINES)


def test_errors_print_the_same(tmp_path: Path, env: dict[str, str]) -> None:
    """Outside any repository, a -C that does not exist, a repository of another format:
    one error line (a JSON object with --json) and exit 3, either way."""
    outside = Project(tmp_path / "nowhere", env)
    outside.root.mkdir()
    lines = [*STATUS_LINES, ["-C", str(tmp_path / "missing"), "status", "--json"]]
    assert_same(outside, lines)
    fast = run_dvault(["status", "--json"], outside.root, env)
    assert fast.code == 3 and '"NotARepository"' in fast.err
    damaged = Project(tmp_path / "damaged", env)
    damaged.root.mkdir()
    damaged.ok("init")
    with open(damaged.root / ".dvault" / "config", "a") as f:
        f.write("\n[core]\nformat = 99\n")
    assert_same(damaged, STATUS_LINES[:4])


@pytest.mark.parametrize("args", STATUS_LINES)
def test_parse_reads_what_it_answers(args: list[str]) -> None:
    assert isinstance(parse(args), StatusArgs)


@pytest.mark.parametrize(
    "args",
    [
        *FALLBACK_LINES,
        [],
        ["--help"],
        ["log"],
        ["-C"],
        ["-C", "d"],
        ["hook"],
        ["hook", "--help"],
        ["hook", "pre-push", "-x"],
        ["hook", "post-checkout", "--", "a"],
        ["-v", "hook", "pre-commit"],
    ],
)
def test_parse_leaves_everything_else(args: list[str]) -> None:
    assert parse(args) is None


def test_parse_reads_the_options() -> None:
    got = parse(["-C", "d", "--quiet", "--color=never", "status", "-u", "--json"])
    assert got is not None
    assert vars(got) == vars(StatusArgs(Path("d"), "never", True, True, False, True))
    assert parse(["-C", "a", "-C", "b", "status"]) is None  # twice: click's to read
    hook = parse(["-q", "hook", "post-checkout", "0" * 40, "1" * 40, "1"])
    assert isinstance(hook, HookArgs) and hook.quiet
    assert (hook.name, hook.args) == ("post-checkout", ["0" * 40, "1" * 40, "1"])
    assert parse(["-C", "-x", "status"]) is None


def test_git_hooks_print_the_same(tmp_path: Path, env: dict[str, str]) -> None:
    """``dvault hook NAME ARGS...`` as the installed hooks run it: a file checkout, a
    branch checkout, pre-commit, an unknown hook, a hook outside any project."""
    proj = git_project(tmp_path / "g", env)
    proj.write("data/a.txt", "a\n")
    proj.ok("add", "data")
    proj.commit("first")
    proj.ok("hooks", "install")
    git(proj, "add", "-A")
    git(proj, "commit", "-q", "-m", "code")
    zero = "0" * 40
    lines = [
        ["hook", "post-checkout", zero, zero, "0"],
        ["hook", "post-checkout", zero, zero, "1"],
        ["hook", "post-merge", "0"],
        ["hook", "pre-commit"],
        ["hook", "no-such-hook"],
        ["-q", "hook", "pre-commit"],
        ["hook", "merge-driver", "a", "b"],
    ]
    assert_same(proj, lines)
    outside = Project(tmp_path / "nowhere", env)
    outside.root.mkdir()
    assert_same(outside, lines[:2])
    proj.write("data/a.txt", "changed\n")
    assert_same(proj, lines[:4])


def _imports_click(args: list[str], cwd: Path, env: dict[str, str]) -> bool:
    """Whether a real ``dvault ARGS`` process imported click (-X importtime's report)."""
    proc = subprocess.run(
        [*dvault_command(), *args],
        cwd=cwd,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        capture_output=True,
        check=False,
    )
    return re.search(rb"\| +click$", proc.stderr, re.MULTILINE) is not None


def test_the_console_script_answers_status_without_click(tracked: Project) -> None:
    """The real program: status and its error lines without click (nor typer); -v, help
    and a forced full command line with it."""
    assert not _imports_click(["status", "--json"], tracked.root, tracked.env)
    assert not _imports_click(["status"], tracked.root.parent, tracked.env)
    assert _imports_click(["status", "-v"], tracked.root, tracked.env)
    assert _imports_click(["status"], tracked.root, {**tracked.env, **SLOW})
    assert not _imports_click(["hook", "pre-commit"], tracked.root, tracked.env)


def test_an_ascii_stdout_prints_the_same(tracked: Project) -> None:
    """stdout in ASCII (PYTHONIOENCODING=ascii): click repairs such a stream before it
    writes, and so does the fast path's Output (through click); a new file named in
    another script shows the same either way."""
    tracked.write("data/caf\u00e9-\u65e5\u672c.txt", "new\n")
    env = {**tracked.env, "PYTHONIOENCODING": "ascii"}
    for args in (["status"], ["status", "--json"], ["--color", "always", "status"]):
        runs = [
            subprocess.run([*dvault_command(), *args], cwd=tracked.root, env=e, capture_output=True)
            for e in (env, {**env, **SLOW})
        ]
        fast, slow = ((r.returncode, r.stdout, r.stderr) for r in runs)
        assert fast == slow and fast[0] == 0 and b"Traceback" not in fast[2], fast


def _on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, bytes]:
    """Exit code and what ``dvault ARGS`` wrote to a terminal (stdout and stderr on a
    pseudo-terminal, as in an interactive shell)."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*dvault_command(), *args], cwd=cwd, env=env, stdout=slave, stderr=slave
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return proc.wait(timeout=120), seen


def test_a_terminal_sees_the_same_colours(tracked: Project) -> None:
    """On a terminal, colour is on by default: the same escape codes both ways (and the
    names inside them escaped)."""
    _write(tracked, b"data/new\x1b[2Kname.txt", b"new\n")
    tracked.write("data/a.txt", "changed\n")
    env = {k: v for k, v in tracked.env.items() if k != "NO_COLOR"} | {"TERM": "xterm"}
    for args in (["status"], ["status", "-u", "--exit-code"], ["-C", "/", "status"]):
        fast = _on_a_terminal(args, tracked.root, env)
        assert fast == _on_a_terminal(args, tracked.root, {**env, **SLOW})
    code, seen = _on_a_terminal(["status"], tracked.root, env)
    assert code == 0 and b"\x1b[31m" in seen and b"\\033[2K" in seen, seen
