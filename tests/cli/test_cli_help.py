"""Help, start-up cost and the built-in demo."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import Run, command_tree, run_in_process

CORE_COMMANDS = {
    "init",
    "add",
    "rm",
    "status",
    "commit",
    "log",
    "show",
    "diff",
    "checkout",
    "branch",
    "tag",
    "demo",
}
HEAVY_MODULES = ("lmdb", "zstandard", "dulwich")


def _commands(help_text: str) -> list[str]:
    """Subcommand names from the 'Commands:' section of `dvault --help`."""
    names = []
    in_section = False
    for line in help_text.splitlines():
        if line.strip().rstrip(":").lower() == "commands":
            in_section = True
            continue
        if in_section:
            match = re.match(r"^\s{2}([a-z][a-z0-9-]*)\b", line)
            if match:
                names.append(match.group(1))
            elif line.strip() and not line.startswith(" "):
                in_section = False
    return names


def test_top_level_help(run: Run) -> None:
    """`dvault --help` exits 0, shows an example and lists every core command."""
    result = run("--help")
    assert result.code == 0, result.describe()
    assert "Example" in result.out
    assert set(_commands(result.out)) >= CORE_COMMANDS, result.out
    assert run("-h").code == 0


def test_every_command_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """Every command, group and subcommand (hidden ones too): `--help` exits 0 and has an
    "Examples:" section whose lines are dvault command lines."""
    tree = command_tree()
    assert ("remote", "passphrase", "add") in tree and ("key", "list") in tree
    for words in tree:
        code, out, err = run_in_process([*words, "--help"], capsys)
        where = " ".join(("dvault", *words))
        assert code == 0, f"{where} --help -> {code}\n{out}{err}"
        assert "Examples:" in out, f"{where} --help has no Examples section:\n{out}"
        section = out.split("Examples:", 1)[1].split("\n\n", 1)[0]
        examples = [line.strip() for line in section.splitlines() if line.strip()]
        assert examples, f"{where}: empty Examples section"
        for line in examples:
            assert "dvault" in line, f"{where}: example {line!r} does not run dvault"
        if words and words[-1] not in ("hook",):
            assert any(" ".join(words) in line for line in examples), (
                f"{where}: no example uses the command itself:\n{section}"
            )


def test_help_of_the_installed_program(run: Run) -> None:
    """The installed console script shows the same help (subprocess: the real program)."""
    result = run("remote", "passphrase", "add", "--help")
    assert result.code == 0, result.describe()
    assert "Examples:" in result.out
    assert "dvault remote passphrase add origin --label ci" in result.out


def test_help_does_not_import_heavy_modules(tmp_path: Path, env: dict[str, str]) -> None:
    """`dvault --help` starts fast: LMDB, zstandard and dulwich are not imported, nor is
    the repository layer (a command module importing ``Repo`` at its top, not only for
    type checking, pulled it and blake3 into every ``--help``)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dvault", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    modules = {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    imported = {name.split(".")[0] for name in modules}
    assert "dvault" in imported  # importtime output was parsed
    assert not imported & set(HEAVY_MODULES), sorted(imported & set(HEAVY_MODULES))
    assert not modules & {"dvault.repo", "dvault.repository", "blake3"}


def test_demo_runs_end_to_end(run: Run, tmp_path: Path) -> None:
    """`dvault demo DIR` exits 0 and leaves a repository with two commits, on main."""
    result = run("demo", "demo-project")
    assert result.code == 0, result.describe()
    root = tmp_path / "demo-project"
    steps = [int(m) for m in re.findall(r"^(\d+)\. ", result.out, re.MULTILINE)]
    assert steps == [1, 2, 3, 4, 5], result.out  # numbered in order, none twice or skipped
    hint = result.out.strip().splitlines()[-1]  # "done. Explore it: cd DIR && dvault ..."
    where, *commands = hint.split("Explore it: ", 1)[1].split(" && ")
    assert (tmp_path / where.removeprefix("cd ")).resolve() == root.resolve()
    for command in commands:  # the hint's commands, as printed
        words = command.split()
        assert words[0] == "dvault", hint
        explored = run(*words[1:], cwd=root)
        assert explored.code == 0 and explored.out, explored.describe()
    assert "paths changed" in explored.out  # the last one, diff v1 v2 --stat
    log = run("log", "--oneline", cwd=root)
    assert log.code == 0, log.describe()
    assert len(log.out.splitlines()) == 2
    status = run("status", "--json", cwd=root)
    assert status.json()["branch"] == "main"
    assert status.json()["clean"] is True
    tags = {t["name"] for t in run("tag", "--json", cwd=root).json()}
    assert {"v1", "v2"} <= tags
    # running it again over its own earlier output is allowed
    assert run("demo", "demo-project").code == 0


def test_running_one_command_leaves_the_app_whole(capsys: pytest.CaptureFixture[str]) -> None:
    """dvault builds only the command it runs; afterwards every command is there again, and
    global options before the command (with their values) do not confuse the choice."""
    before = set(command_tree())
    for args in (["status", "--help"], ["-C", ".", "--color", "never", "-q", "log", "--help"]):
        code, out, _ = run_in_process(args, capsys)
        assert code == 0 and "Examples:" in out
    assert set(command_tree()) == before
    code, _, err = run_in_process(["chekout"], capsys)
    assert code == 2 and err.count("Did you mean 'checkout'?") == 1, err
