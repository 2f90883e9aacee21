"""Helpers for the end-to-end tests: run the real ``dvault`` program, build and snapshot trees."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cli.forkserver import server_for

AUTHOR = "Test <t@example.com>"


def dvault_command() -> list[str]:
    """The installed ``dvault`` console script next to this interpreter, else ``-m dvault``."""
    script = Path(sys.executable).parent / "dvault"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("dvault")
    return [found] if found else [sys.executable, "-m", "dvault"]


def base_env(home: Path) -> dict[str, str]:
    """An environment isolated from the user's git and dvault settings."""
    env = dict(os.environ)
    env.update(
        DVAULT_AUTHOR=AUTHOR,
        DVAULT_LOCK_TIMEOUT="30",
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        LC_ALL="C.UTF-8",
        PYTHONIOENCODING="utf-8",
        COLUMNS="120",
        DVAULT_CONFIG_DIR=str(home / ".config" / "dvault"),  # signing keys: never the user's
    )
    env.pop("PYTHONWARNINGS", None)
    env.pop("DVAULT_SIGNING_KEY", None)
    return env


@dataclass
class Result:
    """What one ``dvault`` run returned."""

    args: list[str]
    code: int
    raw: bytes
    err: str

    @property
    def out(self) -> str:
        return self.raw.decode("utf-8", errors="replace")

    def __iter__(self) -> Any:
        return iter((self.code, self.out, self.err))

    def json(self) -> Any:
        return json.loads(self.out)

    def describe(self) -> str:
        return (
            f"dvault {' '.join(self.args)} -> {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"
        )


def run_dvault(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> Result:
    """Run ``dvault ARGS`` in ``cwd``; never raises on a non-zero exit. The process is
    forked from a server that has dvault imported (tests/cli/forkserver.py), else a fresh
    ``dvault`` process."""
    server = server_for(env)
    if server is not None:
        code, out, err = server.run(list(args), cwd, env, timeout)
        return Result(list(args), code, out, err.decode(errors="replace"))
    proc = subprocess.run(
        [*dvault_command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return Result(list(args), proc.returncode, proc.stdout, proc.stderr.decode(errors="replace"))


Run = Callable[..., Result]
"""The ``run`` fixture: ``run(*args, cwd=DIR, extra_env=None) -> Result``."""


@dataclass
class Project:
    """A temporary dvault project and a way to run commands in it."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
        """Run dvault; returns the result whatever the exit code."""
        merged = {**self.env, **(env or {})}
        return run_dvault(list(args), cwd or self.root, merged)

    def ok(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
        """Run dvault and require exit code 0."""
        result = self.run(*args, cwd=cwd, env=env)
        assert result.code == 0, result.describe()
        assert "Traceback" not in result.err, result.describe()
        return result

    def fails(self, code: int, *args: str, cwd: Path | None = None) -> Result:
        """Run dvault and require exit code ``code`` with one clean error line on stderr."""
        result = self.run(*args, cwd=cwd)
        assert result.code == code, result.describe()
        assert "Traceback" not in result.err, result.describe()
        return result

    def write(self, rel: str, content: bytes | str, mode: int | None = None) -> Path:
        """Create or replace a file (parents included)."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        if mode is not None:
            path.chmod(mode)
        return path

    def commit(self, message: str, *extra: str) -> str:
        """``commit -a -m MESSAGE``; returns the new commit id (full hex)."""
        self.ok("commit", "-a", "-m", message, *extra)
        return self.head()

    def head(self) -> str:
        """The full id of HEAD."""
        return str(self.ok("log", "-n", "1", "--json").json()[0]["id"])

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.ok("status", "--json").json()
        return data

    def log(self, *args: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.ok("log", "--json", *args).json()
        return data

    def snapshot(self, rel: str = "data") -> dict[str, tuple[str, ...]]:
        return snapshot(self.root / rel)


def git_project(root: Path, env: dict[str, str]) -> Project:
    """An empty git work tree (branch main) with a dvault repository; its ``env`` carries a
    git identity, so ``proj.git(...)`` commits work."""
    root.mkdir(parents=True)
    git_env = {
        **env,
        "GIT_AUTHOR_NAME": "T",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "T",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True, env=git_env)
    proj = Project(root, git_env)
    proj.ok("init")
    return proj


def git(proj: Project, *args: str) -> None:
    """Run ``git ARGS`` in the project (real git, the project's environment)."""
    subprocess.run(["git", *args], cwd=proj.root, check=True, env=proj.env)


def snapshot(top: Path) -> dict[str, tuple[str, ...]]:
    """Every entry under ``top``: kind, exec bit and sha256 (or link target); empty dirs too."""
    out: dict[str, tuple[str, ...]] = {}
    if not top.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(top).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[rel] = ("file", "x" if st.st_mode & 0o111 else "-", digest)
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(result: Result) -> str:
    """The single error line a failing command printed (asserting there is just one)."""
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.describe()
    assert "Traceback" not in result.err
    assert lines[0].startswith("dvault: error:"), result.describe()
    return lines[0]


def command_tree() -> dict[tuple[str, ...], Any]:
    """Every command and command group of ``dvault`` (hidden ones too), by its words:
    ``("remote", "passphrase", "add")`` -> the click command. Read from the real app, so a
    new command is covered by the tests that walk it."""
    import click
    import typer

    from dvault.cli import app

    tree: dict[tuple[str, ...], Any] = {}

    def walk(words: tuple[str, ...], command: click.Command) -> None:
        tree[words] = command
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk((*words, name), sub)

    walk((), typer.main.get_command(app))
    return tree


def run_in_process(args: list[str], capsys: Any) -> tuple[int, str, str]:
    """Run ``dvault ARGS`` through the console script's entry point in this process (for
    the many cheap runs of the help walk); returns (exit code, stdout, stderr)."""
    from dvault.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err
