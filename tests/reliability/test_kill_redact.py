"""``dvault redact`` killed at every write boundary (killpoint.py): nothing live is lost.

Each run starts from a copy of one project (a secret file in the first commit, removed
in the second; other files in both). After the kill: every other file of every commit
restores byte for byte, ``verify --read-data`` is clean, the secret is either still
readable (the kill came before the record) or says "erased" (never missing or corrupt),
and a completed ``redact`` afterwards removes its bytes from every local pack.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dvault
from dvault.errors import ObjectErased

from .harness import Project, boundary_plan, measure, run_and_kill

SECRET = b"name,email\nAda,ada@example.org\n" + os.urandom(6000)
KEEP = {"data/keep.bin": os.urandom(7000), "data/also.bin": os.urandom(3000)}
REDACT = ["redact", "data/people.csv", "--reason", "GDPR request 42"]


def _template(project: Project) -> None:
    for rel, data in KEEP.items():
        project.write(rel, data)
    project.write("data/people.csv", SECRET)
    project.ok("add", "data")
    project.ok("commit", "-m", "v1")
    project.ok("rm", "data/people.csv")
    project.ok("commit", "-m", "v2")


def _packs_hold(root: Path, needle: bytes) -> bool:
    return any(needle in p.read_bytes() for p in (root / ".dvault" / "packs").glob("*.pack"))


def _sound(copy: Project) -> None:
    for rev in ("HEAD", "HEAD~1"):
        for rel, data in KEEP.items():
            with dvault.open(rel, rev, repo=copy.root) as f:
                assert f.read() == data, (rev, rel)
    try:
        with dvault.open("data/people.csv", "HEAD~1", repo=copy.root) as f:
            assert f.read() == SECRET
    except ObjectErased as exc:
        assert "erased on " in str(exc)
    result = copy.run("verify", "--read-data")
    assert result.code == 0, result.describe()


def test_kill_redact(project: Project) -> None:
    _template(project)
    template = project.root.parent / "template"
    shutil.copytree(project.root, template)
    _, count, _ = measure(project, REDACT)
    assert not _packs_hold(project.root, SECRET[-300:])
    assert count >= 4, count  # record, new pack, index, unlink at least
    for boundary in boundary_plan(count, 12):
        root = project.root.parent / f"k{boundary}"
        shutil.copytree(template, root)
        copy = Project(root, project.env)
        outcome = run_and_kill(copy, REDACT, 0.0, boundary)
        assert outcome.killed, outcome.describe()
        _sound(copy)
        again = copy.run(*REDACT)
        assert again.code == 0, again.describe()
        assert not _packs_hold(root, SECRET[-300:]), outcome.describe()
        _sound(copy)
        shutil.rmtree(root)
