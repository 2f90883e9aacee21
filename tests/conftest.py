"""Shared fixtures for the unit tests (keep small; append, don't overwrite)."""

from __future__ import annotations

import compileall
from collections.abc import Iterator
from pathlib import Path

import pytest

from dvault.repo import Repo
from dvault.store.objectstore import ObjectStore


def pytest_configure(config: pytest.Config) -> None:
    """Write dvault's .pyc files once, before any test starts a ``dvault`` process.

    A fresh clone has none, and with PYTHONDONTWRITEBYTECODE=1 (as on the CI machines)
    Python never writes them, so each of the thousands of CLI subprocesses the suite
    starts would compile every module it imports from source again (~40 ms each: ~1.5
    minutes of the run on a clean clone). Each worker may run this; the writes are atomic.
    """
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "dvault"), quiet=1)


def make_store_dir(root: Path) -> Path:
    """Create the directories an ObjectStore needs (as Repo.init does) and return ``root``."""
    (root / "packs").mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """An empty directory laid out for an ObjectStore."""
    return make_store_dir(tmp_path / "store")


@pytest.fixture
def store(store_dir: Path) -> Iterator[ObjectStore]:
    """An open ObjectStore over an empty store directory, closed after the test."""
    s = ObjectStore(store_dir)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Repo]:
    """A fresh project (``tmp_path/proj``, not inside git) with a fixed author, closed after."""
    monkeypatch.setenv("DVAULT_AUTHOR", "Test <test@example.com>")
    r = Repo.init(tmp_path / "proj")
    try:
        yield r
    finally:
        r.close()
