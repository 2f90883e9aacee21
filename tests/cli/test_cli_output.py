"""Colour only on a terminal (NO_COLOR, --color), and the global -q/--quiet and
-v/--verbose flags: what each leaves on stdout and stderr."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

from .helpers import Project, dvault_command, one_error_line

ESC = "\x1b["


def _on_tty(project: Project, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run dvault with stdout on a pseudo-terminal (stderr piped); returns what the
    terminal showed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*dvault_command(), *args],
        cwd=project.root,
        env={**project.env, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the program closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    code = proc.wait()
    os.close(master)
    assert "Traceback" not in err, err
    return code, b"".join(chunks).decode(errors="replace")


def _dirty(tracked: Project) -> Project:
    """A change of each colour: staged, modified, new."""
    tracked.write("data/a.txt", "changed\n")
    tracked.write("data/new.txt", "new\n")
    tracked.ok("add", "data/new.txt")
    tracked.write("data/b.txt", "changed too\n")
    return tracked


def test_colour_on_a_terminal_only(tracked: Project) -> None:
    """status, log and diff colour a terminal; a pipe never gets escape codes."""
    proj = _dirty(tracked)
    for args in (("status",), ("log", "--oneline"), ("diff",), ("show", "HEAD")):
        piped = proj.ok(*args)
        assert ESC not in piped.out, piped.describe()
        code, shown = _on_tty(proj, *args)
        assert code == 0
        assert ESC in shown, f"dvault {' '.join(args)} on a terminal:\n{shown}"


def test_no_color_and_color_option(tracked: Project) -> None:
    """NO_COLOR (any non-empty value) and TERM=dumb turn colour off on a terminal;
    --color never/always override the terminal test, and --color always beats NO_COLOR."""
    proj = _dirty(tracked)
    assert ESC not in _on_tty(proj, "status", env={"NO_COLOR": "1"})[1]
    assert ESC not in _on_tty(proj, "status", env={"TERM": "dumb"})[1]
    assert ESC in _on_tty(proj, "status", env={"NO_COLOR": ""})[1]  # empty: not set
    assert ESC not in _on_tty(proj, "--color", "never", "status")[1]
    assert ESC in proj.ok("--color", "always", "status").out
    assert ESC in proj.ok("--color", "always", "status", env={"NO_COLOR": "1"}).out
    assert ESC not in proj.ok("--color", "auto", "status").out
    assert proj.fails(2, "--color", "sometimes", "status").err.count("\n") == 1


def test_json_is_never_coloured(tracked: Project) -> None:
    """--json on a terminal, even with --color always, is plain JSON."""
    proj = _dirty(tracked)
    code, shown = _on_tty(proj, "--color", "always", "status", "--json")
    assert code == 0
    assert ESC not in shown
    assert '"clean": false' in shown


def test_error_lines_have_no_escape_codes_when_piped(project: Project) -> None:
    """An error on a piped stderr is plain text."""
    result = project.fails(2, "log", "no-such-rev")
    assert ESC not in result.err
    assert "no-such-rev" in one_error_line(result)


def test_quiet_keeps_data_and_errors_only(tracked: Project) -> None:
    """-q silences confirmations and summaries, never the data asked for, nor errors."""
    proj = tracked
    proj.write("data/d.txt", "delta\n")
    assert proj.ok("-q", "add", "data").out == ""
    assert proj.ok("--quiet", "commit", "-m", "second").out == ""
    assert proj.ok("-q", "tag", "v2").out == ""
    assert proj.ok("-q", "checkout", "HEAD~1").out == ""
    assert proj.ok("-q", "checkout", "main").out == ""
    assert proj.ok("-q", "verify").out == ""
    assert len(proj.ok("-q", "log", "--oneline").out.splitlines()) == 2
    assert "On branch main" in proj.ok("-q", "status").out
    assert proj.ok("-q", "show", "v2:data/d.txt").out == "delta\n"
    assert proj.ok("-q", "status", "--json").json()["clean"] is True
    assert proj.ok("-q", "commit", "--json", "--allow-empty", "-m", "x").json()["message"] == "x"
    failed = proj.fails(2, "-q", "checkout", "no-such-rev")
    assert "no-such-rev" in one_error_line(failed)


def test_verbose_adds_detail_on_stderr_only(tracked: Project) -> None:
    """-v writes details and the time taken to stderr; stdout is what it is without -v."""
    proj = tracked
    plain = proj.ok("log", "--oneline")
    verbose = proj.ok("-v", "log", "--oneline")
    assert verbose.out == plain.out
    assert f"repository {proj.root / '.dvault'}" in verbose.err
    assert "done in" in verbose.err and "(exit 0)" in verbose.err
    proj.write("data/a.txt", "changed\n")
    added = proj.ok("--verbose", "add", "data", "--json")
    assert added.json()["modified"] == 1  # stdout still one JSON document
    assert "read " in added.err and "stored " in added.err
    moved = proj.ok("-v", "checkout", "-f", "HEAD", "--", "data/a.txt")
    assert "wrote data/a.txt" in moved.err


def test_quiet_and_verbose_together_is_a_usage_error(project: Project) -> None:
    assert "quiet" in one_error_line(project.fails(2, "-q", "-v", "status"))


def test_global_flags_after_the_command_too(project: Project, tmp_path: Path) -> None:
    """-q and -v also work after the command word; -C and --color go before it (after it
    they are unknown options: one line, exit 2, with where to find help)."""
    assert project.ok("status", "-q").out.startswith("On branch main")
    line = one_error_line(project.fails(2, "status", "--color", "never"))
    assert "'--color'" in line and "dvault status --help" in line


def _stderr_on_tty(project: Project, *args: str) -> tuple[int, str, str]:
    """Run dvault with stderr on a pseudo-terminal of 120 columns (stdout piped)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(
        [*dvault_command(), *args],
        cwd=project.root,
        env=project.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    code = proc.wait()
    os.close(master)
    return code, out, b"".join(chunks).decode(errors="replace")


def test_progress_bar_only_on_a_terminal_and_never_quiet_or_json(project: Project) -> None:
    """A 65 MiB add shows a bar on a terminal's stderr; -q or --json show none (and a
    piped stderr never has one: every other test)."""
    big = project.write("data/big.bin", b"")
    size = 65 << 20

    def touch(n: int) -> None:  # new content each time, so every add reads it all
        with big.open("wb") as f:
            f.truncate(size)
            f.write(bytes([n]))

    touch(1)
    code, _, err = _stderr_on_tty(project, "add", "data")
    assert code == 0 and "add:" in err and "68.2M" in err, err
    touch(2)
    code, _, err = _stderr_on_tty(project, "-q", "add", "data")
    assert code == 0 and err == "", err
    touch(3)
    code, out, err = _stderr_on_tty(project, "add", "data", "--json")
    assert code == 0 and err == "" and json.loads(out)["modified"] == 1, err
