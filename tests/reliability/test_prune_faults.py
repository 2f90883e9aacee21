"""``prune`` with the fault-injecting backend (faults.py): failing at any one remote call,
or losing the reply of a call that took effect, it surfaces one error or completes; every
kept commit's objects still read back from the remote and verify; and a prune run again
without the fault completes and leaves nothing dead."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dvault import config as cfg
from dvault.errors import DvaultError
from dvault.remote.admin import DirectoryDeleter
from dvault.remote.directory import DirectoryBackend
from dvault.remote.prune import prune
from dvault.remote.session import pick_remote
from dvault.repo import Repo
from tests.cli.helpers import Project, base_env
from tests.remote.prune_helpers import forget, in_env, read_back, trust_own_key

from .faults import Fault, FaultyBackend


@dataclass(frozen=True)
class Template:
    base: Path
    env: dict[str, str]
    kept: list[str]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """A project whose remote holds three commits, the first released by a forget entry."""
    base = tmp_path_factory.mktemp("prune-faults")
    (base / "home").mkdir()
    env = base_env(base / "home")
    proj = Project(base / "work" / "proj", env)
    proj.root.mkdir(parents=True)
    proj.ok("init")
    trust_own_key(proj)
    proj.ok("remote", "add", "--init", "origin", "../remote")
    commits = []
    for n in range(3):
        proj.write(f"data/gone-{n}.bin", os.urandom(60_000))
        proj.write(f"data/stays-{n}.bin", os.urandom(20_000))
        if n:
            (proj.root / "data" / f"gone-{n - 1}.bin").unlink()
        proj.ok("add", "data")
        proj.ok("commit", "-a", "-m", f"c{n}")
        proj.ok("push", "origin", "--no-tags")
        commits.append(proj.head())
    forget(proj, [commits[0]])
    yield Template(base / "work", env, commits[1:])


def _copy(template: Template, dest: Path) -> Path:
    """A copy of the template whose origin is the copy's own remote; returns the project."""
    shutil.copytree(template.base, dest, symlinks=True)
    config = cfg.load(dest / "proj" / ".dvault" / "config")
    config["remote"]["origin"]["url"] = str(dest / "remote")
    cfg.save(dest / "proj" / ".dvault" / "config", config)
    return dest / "proj"


def _prune(root: Path, env: dict[str, str], fault: Fault | None) -> FaultyBackend:
    remote = root.parent / "remote"
    faulty = FaultyBackend(DirectoryBackend(remote), fault)
    with in_env(env), Repo.open(root) as repo:
        prune(
            repo,
            pick_remote(repo, "origin"),
            grace_s=0,
            backend=faulty,
            deleter=DirectoryDeleter(remote),
        )
    return faulty


def test_prune_failing_at_any_call_loses_nothing(template: Template, tmp_path: Path) -> None:
    calls = len(_prune(_copy(template, tmp_path / "clean"), template.env, None).calls)
    assert calls > 10
    problems: list[str] = []
    for number in range(1, calls + 1):
        for fault in (Fault(fail_call=number), Fault(lose_reply=number)):
            case = tmp_path / f"case-{number}-{fault.describe()}"
            proj = Project(_copy(template, case), template.env)
            try:
                _prune(proj.root, template.env, fault)
            except DvaultError as exc:
                if "\n" in str(exc):
                    problems.append(f"{fault.describe()}: not one line: {exc}")
            for commit in template.kept:
                try:
                    read_back(proj, commit)
                except DvaultError as exc:
                    problems.append(f"{fault.describe()}: kept {commit[:12]} lost: {exc}")
            _prune(proj.root, template.env, None)
            for commit in template.kept:
                read_back(proj, commit)
            left = proj.ok("prune", "origin", "--dry-run", "--json").json()
            if left["bytes_to_free"]:
                problems.append(f"{fault.describe()}: a re-run left {left}")
            shutil.rmtree(case)
    assert not problems, "\n".join(problems[:10])
