"""What a new user meets in the first hour (issue 20, item 10): --version, -q/-v after the
command, plain help, one "Did you mean", status's detached/collapsed/quoted lines, add over
nested roots, a corrupt config, the demo's steps."""

from __future__ import annotations

import re
from importlib.metadata import version

import click
import pytest

from .helpers import Project, Run, command_tree, one_error_line, run_in_process


def test_version_prints_the_package_version(run: Run) -> None:
    """`dvault --version` and `-V`: `dvault X.Y.Z` from the installed package, exit 0."""
    for flag in ("--version", "-V"):
        result = run(flag)
        assert result.code == 0, result.describe()
        assert result.out == f"dvault {version('dvault')}\n", result.describe()


def test_every_command_takes_quiet_and_verbose_after_its_word() -> None:
    """The global -q/-v are accepted after every command word (dvault commit -q)."""
    missing = []
    for words, command in command_tree().items():
        if not words or isinstance(command, click.Group):
            continue
        opts = {o for p in command.params for o in getattr(p, "opts", [])}
        if not {"-q", "--quiet", "-v", "--verbose"} <= opts:
            missing.append(" ".join(words))
    assert not missing, missing


def test_quiet_and_verbose_after_the_command(project: Project) -> None:
    project.write("data/a.txt", "a\n")
    project.ok("add", "data")
    quiet = project.ok("commit", "-q", "-m", "first")
    assert quiet.out == "" and quiet.err == "", quiet.describe()
    assert [c["message"] for c in project.log()] == ["first"]
    # a value that looks like the flag is still the option's value
    project.ok("commit", "--allow-empty", "-m", "-q")
    assert project.log()[0]["message"] == "-q"
    verbose = project.ok("status", "-v")
    assert "dvault: repository " in verbose.err and "nothing to commit" in verbose.out
    both = project.fails(2, "-q", "status", "-v")
    assert "contradict" in one_error_line(both)


def test_no_markup_escape_in_any_help(capsys: pytest.CaptureFixture[str]) -> None:
    """No command's help shows typer's rich escape (`\\[required]`)."""
    leaked = []
    for words in command_tree():
        code, out, _ = run_in_process([*words, "--help"], capsys)
        assert code == 0
        if "\\[" in out:
            leaked.append(" ".join(words))
    assert not leaked, leaked
    code, out, _ = run_in_process(["add", "--help"], capsys)
    assert re.search(r"PATHS\.\.\.\s+Files or folders to track\.\s+\[required\]", out), out


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["sta"], "no such command 'sta'. Did you mean 'status' or 'tag'?"),
        (["hooks", "instal"], "no such command 'instal'. Did you mean 'install' or 'uninstall'?"),
        (["status", "--jsn"], "no such option '--jsn'. Did you mean '--json'?"),
        (["zzz"], "no such command 'zzz' (see"),
    ],
)
def test_did_you_mean_once(run: Run, args: list[str], line: str) -> None:
    result = run(*args)
    assert result.code == 2, result.describe()
    error = one_error_line(result)
    assert line in error and error.count("id you mean") <= 1, error
