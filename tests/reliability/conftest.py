"""Fixtures for the crash-safety suite, and a terminal summary of its kill campaigns.

Each campaign records a one-line summary ("add: 50 kills, 0 losses (...)") with
``record_property``; the lines are collected here (also from xdist workers, whose
reports carry ``user_properties``) and printed at the end of the run. Run with ``-s``
and without xdist to also see them as each test finishes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import PROPERTY, Project, base_env

_summaries: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _summaries.extend(str(value) for key, value in report.user_properties if key == PROPERTY)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _summaries:
        terminalreporter.section("dvault crash-safety")
        for line in sorted(_summaries):
            terminalreporter.write_line(line)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for dvault (fixed author, isolated HOME and git config), for child
    processes and, set in ``os.environ``, for the command line run in this process."""
    home = tmp_path / "home"
    home.mkdir()
    env = base_env(home)
    for key, value in env.items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """Where the kill campaigns keep projects and remotes: in RAM (``/dev/shm``) when there
    is one, else ``tmp_path``; ``DVAULT_KILL_ON_DISK=1`` forces ``tmp_path``.

    A SIGKILL leaves the page cache intact, so what these tests check (the order of
    renames and index, ref and log updates) is the same in RAM; on a disk shared with
    other busy tests their time would go to fsync and syncfs waits instead.
    """
    shm = Path("/dev/shm")
    if os.environ.get("DVAULT_KILL_ON_DISK") or not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="dvault-kill-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def project(workdir: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Project:
    """A fresh project made by ``dvault init`` (not inside git), also the current directory."""
    root = workdir / "proj"
    root.mkdir()
    monkeypatch.chdir(root)
    proj = Project(root, env)
    proj.ok("init")
    return proj
