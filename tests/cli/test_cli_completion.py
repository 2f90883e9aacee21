"""Shell completion: the scripts dvault prints, the completion protocol, a real bash using
them, and that completing stays as cheap as `--help`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import Run, dvault_command

HEAVY_MODULES = ("lmdb", "zstandard", "dulwich", "boto3", "cryptography", "tqdm")


def _complete_bash(run: Run, words: list[str]) -> list[str]:
    """What the bash protocol offers for the last word of ``dvault WORDS``."""
    line = " ".join(["dvault", *words])
    result = run(
        extra_env={
            "_DVAULT_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words)),
        }
    )
    assert result.code == 0, result.describe()
    return result.out.split()


def test_completion_script_for_each_shell(run: Run) -> None:
    """`dvault completion SHELL` prints that shell's script, wired to dvault's protocol."""
    bash = run("completion", "bash")
    assert bash.code == 0, bash.describe()
    assert "_DVAULT_COMPLETE=complete_bash" in bash.out
    assert "complete -o default -F _dvault_completion dvault" in bash.out
    zsh = run("completion", "zsh")
    assert zsh.out.startswith("#compdef dvault"), zsh.describe()
    fish = run("completion", "fish")
    assert "complete --command dvault" in fish.out, fish.describe()
    assert run("completion", "powershell").code == 0
    bad = run("completion", "tcsh")
    assert bad.code == 2 and "tcsh" in bad.err and len(bad.err.splitlines()) == 1


def test_protocol_completes_commands_subcommands_and_options(run: Run) -> None:
    """Subcommand names, nested subcommands, options and option values complete."""
    assert sorted(_complete_bash(run, ["st"])) == ["stash", "stats", "status"]
    assert set(_complete_bash(run, ["re"])) == {
        "redact",
        "repair",
        "rerun",
        "review",
        "remote",
        "reset",
        "revert",
    }
    assert _complete_bash(run, ["remote", "pa"]) == ["passphrase"]
    assert _complete_bash(run, ["remote", "passphrase", "l"]) == ["list"]
    assert "--json" in _complete_bash(run, ["status", "--"])
    assert _complete_bash(run, ["--color", ""]) == ["auto", "always", "never"]
    assert "hook" not in _complete_bash(run, ["ho"])  # hidden: the git hooks' entry point


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_real_bash_completes_with_the_printed_script(tmp_path: Path, env: dict[str, str]) -> None:
    """bash sources `dvault completion bash` and its completion function fills COMPREPLY."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "dvault").write_text(
        "#!/bin/sh\nexec " + " ".join(f"'{part}'" for part in dvault_command()) + ' "$@"\n'
    )
    (bindir / "dvault").chmod(0o755)
    script = (
        "source <(dvault completion bash) && complete -p dvault && "
        "COMP_WORDS=(dvault remote passphrase a); COMP_CWORD=3; "
        '_dvault_completion dvault; echo "reply: ${COMPREPLY[*]}"'
    )
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        cwd=tmp_path,
        env={**env, "PATH": f"{bindir}{os.pathsep}{env['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "complete -o default -F _dvault_completion dvault" in proc.stdout
    assert "reply: add" in proc.stdout, proc.stdout


def test_install_completion_writes_into_home(tmp_path: Path, run: Run) -> None:
    """`--install-completion` installs the script under the (isolated) HOME and sources it
    from .bashrc. The shell is named (typer's switch for that) rather than detected from
    whatever process runs the tests."""
    home = tmp_path / "home"
    no_detection = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    result = run("--install-completion", "bash", extra_env=no_detection)
    assert result.code == 0, result.describe()
    bashrc = (home / ".bashrc").read_text()
    assert ".bash_completions/dvault.sh" in bashrc
    installed = (home / ".bash_completions" / "dvault.sh").read_text()
    assert "_DVAULT_COMPLETE=complete_bash" in installed


def test_completing_imports_no_heavy_module(tmp_path: Path, env: dict[str, str]) -> None:
    """A tab press costs what `--help` costs: no LMDB, zstd, dulwich, boto3, tqdm."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dvault"],
        cwd=tmp_path,
        env={
            **env,
            "_DVAULT_COMPLETE": "complete_bash",
            "COMP_WORDS": "dvault che",
            "COMP_CWORD": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["checkout"]
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "dvault" in imported
    assert not imported & set(HEAVY_MODULES), sorted(imported & set(HEAVY_MODULES))
