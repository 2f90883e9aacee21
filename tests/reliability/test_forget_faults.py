"""``forget`` with the fault-injecting backend (faults.py): failing at any one remote call,
or losing the reply of a call that took effect, it surfaces one error line or completes;
the ref log replays whole, the forget entry landed whole or not at all, and a forget run
again without the fault completes and releases exactly what the policy drops; every kept
commit reads back (test_kill_forget.py kills the real process)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dvault import config as cfg
from dvault.errors import DvaultError
from dvault.ops import forget as forget_op
from dvault.remote.directory import DirectoryBackend
from dvault.remote.session import Remote
from dvault.repo import Repo
from dvault.retention import Policy
from tests.cli.helpers import Project, base_env
from tests.remote.prune_helpers import in_env, trust_own_key

from .faults import Fault, FaultyBackend
from .test_kill_forget import check_forgotten, forget_entries, remote_state

STEP = 1 if os.environ.get("DVAULT_SLOW") == "1" else 2
"""Every call under DVAULT_SLOW=1; every other one by default (the suite's budget)."""


@dataclass(frozen=True)
class Template:
    base: Path
    env: dict[str, str]
    commits: list[str]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """A project whose remote holds four commits, none released yet."""
    base = tmp_path_factory.mktemp("forget-faults")
    (base / "home").mkdir()
    env = base_env(base / "home")
    proj = Project(base / "work" / "proj", env)
    proj.root.mkdir(parents=True)
    proj.ok("init")
    trust_own_key(proj)
    proj.ok("remote", "add", "--init", "origin", "../remote")
    commits = []
    for n in range(4):
        proj.write(f"data/f-{n}.bin", os.urandom(20_000))
        proj.ok("add", "data")
        proj.ok("commit", "-a", "-m", f"c{n}")
        proj.ok("push", "origin", "--no-tags")
        commits.append(proj.head())
    yield Template(base / "work", env, commits)


def _copy(template: Template, dest: Path) -> Project:
    """A copy of the template whose origin is the copy's own remote."""
    shutil.copytree(template.base, dest, symlinks=True)
    config = cfg.load(dest / "proj" / ".dvault" / "config")
    config["remote"]["origin"]["url"] = str(dest / "remote")
    cfg.save(dest / "proj" / ".dvault" / "config", config)
    return Project(dest / "proj", template.env)


def _forget(proj: Project, fault: Fault | None, monkeypatch: pytest.MonkeyPatch) -> FaultyBackend:
    """``forget --keep-last 2`` in-process, every remote call through the faulty backend
    (ops/forget.py opens its Remote by name: replaced here for the call)."""
    faulty = FaultyBackend(DirectoryBackend(proj.root.parent / "remote"), fault)
    with monkeypatch.context() as patch, in_env(proj.env), Repo.open(proj.root) as repo:
        patch.setattr(forget_op, "Remote", lambda r, spec: Remote(r, spec, faulty))
        forget_op.forget(repo, "origin", Policy(last=2))
    return faulty


def test_forget_failing_at_any_call_loses_nothing(
    template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = _copy(template, tmp_path / "clean")
    calls = len(_forget(clean, None, monkeypatch).calls)
    assert calls > 5
    expected = set(template.commits[:-2])
    problems: list[str] = []

    def check(ok: bool, message: str) -> bool:
        if not ok:
            problems.append(f"{where}: {message}")
        return ok

    for number in range(1, calls + 1, STEP):
        for fault in (Fault(fail_call=number), Fault(lose_reply=number)):
            where = fault.describe()
            proj = _copy(template, tmp_path / f"case-{number}-{where}")
            try:
                _forget(proj, fault, monkeypatch)
            except DvaultError as exc:
                check("\n" not in str(exc), f"not one line: {exc}")
            check_forgotten(check, proj, template.commits, 0, expected, "origin")
            _forget(proj, None, monkeypatch)  # a re-run completes
            view, found = remote_state(proj, "origin")
            check(len(forget_entries(view)) == 1, "not exactly one forget entry")
            check(all(not found.is_kept(c) for c in expected), "a re-run left commits kept")
            shutil.rmtree(proj.root.parent)
    assert not problems, "\n".join(problems[:10])
