"""Hooks chain to the ones a project already has; they are never clobbered."""

from __future__ import annotations

from pathlib import Path

from .conftest import GitProject


def _existing_hook(proj: GitProject, body: str) -> tuple[Path, bytes]:
    path = proj.root / ".git" / "hooks" / "pre-commit"
    script = f"#!/bin/sh\n# the project's own pre-commit\n{body}\n".encode()
    path.write_bytes(script)
    path.chmod(0o755)
    return path, script


def _code_change(proj: GitProject, text: str) -> None:
    proj.write("train.py", text)
    proj.git("add", "train.py")


def test_existing_hook_still_runs_and_uninstall_restores_it(v1: GitProject) -> None:
    """After install the old pre-commit runs first; uninstall puts it back byte for byte."""
    log = v1.root.parent / "hook-ran.log"
    hook, script = _existing_hook(v1, f'echo "ran $#" >> "{log}"')
    v1.ok("hooks", "install")
    assert hook.read_bytes() != script
    assert (hook.parent / "pre-commit.dvault-chained").read_bytes() == script
    v1.git("add", "-A")
    result = v1.git("commit", "-q", "-m", "data v1")
    assert log.read_text() == "ran 0\n"
    assert "dvault: pre-commit: data matches dvault.lock" in result.err
    # both hooks run: the old one, then dvault's, which still refuses stale data
    v1.write("data/a.txt", b"stale\n")
    _code_change(v1, "print(2)\n")
    before = v1.sha()
    refused = v1.git("commit", "-q", "-m", "code", check=False)
    assert refused.code != 0 and "dvault: pre-commit:" in refused.err, refused.describe()
    assert log.read_text() == "ran 0\nran 0\n"
    assert v1.sha() == before
    v1.ok("hooks", "install")  # re-installing keeps the chain intact
    assert (hook.parent / "pre-commit.dvault-chained").read_bytes() == script
    v1.ok("hooks", "uninstall")
    assert hook.read_bytes() == script
    assert hook.stat().st_mode & 0o111
    assert not (hook.parent / "pre-commit.dvault-chained").exists()
    for name in ("post-checkout", "post-merge", "pre-push"):
        assert not (hook.parent / name).exists()
    v1.git("commit", "-q", "-m", "code")  # only the project's hook now: stale data passes
    assert log.read_text() == "ran 0\nran 0\nran 0\n"


def test_failing_existing_hook_blocks_the_commit(v1: GitProject) -> None:
    """A chained pre-commit that fails still blocks the git commit (data being clean)."""
    _existing_hook(v1, 'echo "lint failed" >&2; exit 3')
    v1.ok("hooks", "install")
    v1.git("add", "-A")
    before = v1.sha()
    result = v1.git("commit", "-q", "-m", "data v1", check=False)
    assert result.code != 0, result.describe()
    assert "lint failed" in result.err
    assert "dvault: pre-commit" not in result.err  # the chain stops at the failure
    assert v1.sha() == before


def test_hooks_installed_in_a_linked_worktree_run(v1: GitProject, tmp_path: Path) -> None:
    """`dvault hooks install` in a `git worktree` installs hooks git actually runs there."""
    v1.ok("remote", "add", "--init", "origin", str(tmp_path / "dvault-remote"))
    v1.ok("push", "origin")
    v1.git("add", "-A")
    v1.git("commit", "-q", "-m", "data v1")
    wt = GitProject(tmp_path / "wt", v1.env)
    v1.git("worktree", "add", "-q", "-b", "experiment", str(wt.root))
    wt.ok("pull")
    assert wt.data() == v1.data()
    wt.ok("hooks", "install")
    where = wt.git("rev-parse", "--path-format=absolute", "--git-path", "hooks/pre-commit")
    assert "dvault-hook" in Path(where.out.strip()).read_text()  # where git looks
    wt.write("data/a.txt", b"edited in the worktree\n")
    before = wt.sha()
    result = wt.git("commit", "-q", "--allow-empty", "-m", "code", check=False)
    assert result.code != 0 and "dvault: pre-commit:" in result.err, result.describe()
    assert wt.sha() == before
