"""The user guide stays true: the tutorial's commands run, and the site builds without a
broken link or anchor.

The tutorial (docs/tutorial.md) is run as a reader would run it: every ``sh`` block, in
order, in one shell starting in an empty directory, with the installed ``dvault`` program
and the real git. The MkDocs build runs with ``--strict`` and the link validation of
mkdocs.yml, and a copy of the docs with one broken link must fail to build, so the check
is known to bite.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def _blocks(page: Path, lang: str) -> list[tuple[int, str]]:
    """The fenced blocks of ``page`` in language ``lang``, with their first line number."""
    text = page.read_text()
    return [
        (text.count("\n", 0, m.start()) + 2, m.group(2))
        for m in BLOCK.finditer(text)
        if m.group(1) == lang
    ]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN))
    if found is None:
        pytest.fail(f"{name} is not installed next to {sys.executable}; pip install -e '.[test]'")
    return found


def _isolated_env(home: Path) -> dict[str, str]:
    """A reader's shell: the installed dvault first on PATH, a git identity, and none of
    this machine's git or dvault settings."""
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVAULT_", "GIT_", "AWS_"))}
    env.update(
        HOME=str(home),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_PAGER="cat",
        LC_ALL="C.UTF-8",
    )
    return env


def test_tutorial_commands_all_work(tmp_path: Path) -> None:
    """Every command of the tutorial succeeds, and the data it restores is the data it
    committed."""
    if shutil.which("git") is None:
        pytest.fail("the tutorial needs git")
    _tool("dvault")
    blocks = _blocks(DOCS / "tutorial.md", "sh")
    assert len(blocks) >= 10, "the tutorial lost its shell blocks"
    script = ["set -euo pipefail -x"]
    for line, body in blocks:
        script.append(f": '--- docs/tutorial.md, block at line {line}'")
        script.append(body)
    work = tmp_path / "start"
    work.mkdir()
    proc = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=work,
        env=_isolated_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        f"a tutorial command failed (exit {proc.returncode}); the trace ends with:\n"
        + "\n".join(proc.stderr.splitlines()[-25:])
    )
    tutorial = work / "dvault-tutorial"
    # restored from the remote after the project was deleted: the v2 data, byte for byte
    assert "OK" in proc.stdout and "FAILED" not in proc.stdout
    labels = tutorial / "vision" / "data" / "labels"
    assert '"cat"' in (labels / "img_3.json").read_text()
    assert len(list(labels.iterdir())) == 8
    # the partial clone of v1 holds only the labels, at v1
    partial = tutorial / "labels-v1" / "data"
    assert '"dog"' in (partial / "labels" / "img_3.json").read_text()
    assert not (partial / "images").exists()
    assert "Verdict: reproducible" in proc.stdout


def _documented_invocations() -> list[tuple[str, int, list[str]]]:
    """Every ``dvault ...`` command line in the shell blocks of the guide's pages."""
    pages = [DOCS / "tutorial.md", *sorted((DOCS / "howto").glob("*.md"))]
    found = []
    for page in pages:
        for line, body in _blocks(page, "sh"):
            joined = re.sub(r"\\\n\s*", " ", body)
            for offset, text in enumerate(joined.splitlines()):
                for part in re.split(r"&&|\|\||[;|]", text.split(" #")[0]):
                    try:
                        words = shlex.split(part, comments=True)
                    except ValueError:  # a quote split by the separators above
                        words = part.split()
                    while words and "=" in words[0]:  # VAR=value dvault ...
                        words = words[1:]
                    if words and words[0] == "dvault":
                        found.append((page.name, line + offset, words[1:]))
    return found


@pytest.mark.filterwarnings("ignore:'click.utils.get_:DeprecationWarning")
def test_documented_commands_and_options_exist() -> None:
    """Each command and option the guide uses is one the command line accepts."""
    import click
    import typer

    from dvault.cli import app

    root = typer.main.get_command(app)
    invocations = _documented_invocations()
    assert len(invocations) > 40
    problems = []
    for page, line, words in invocations:
        command: click.Command = root
        options = {o for p in root.params for o in getattr(p, "opts", [])}
        for i, word in enumerate(words):
            if word == "--":
                break
            if isinstance(command, click.Group) and not word.startswith("-"):
                sub = command.get_command(click.Context(command), word)
                if sub is None:
                    problems.append(f"{page}:{line}: no command {' '.join(words[: i + 1])!r}")
                    break
                command = sub
                options |= {o for p in command.params for o in getattr(p, "opts", [])}
                options |= {o for p in command.params for o in getattr(p, "secondary_opts", [])}
            elif word.startswith("-") and word.split("=")[0] not in options:
                problems.append(f"{page}:{line}: {command.name} has no option {word}")
    assert not problems, "\n".join(problems)


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _tool("mkdocs"),
            "build",
            "--strict",
            "--config-file",
            str(config),
            "--site-dir",
            str(site),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_site_builds_with_no_broken_link(tmp_path: Path) -> None:
    """``mkdocs build --strict`` succeeds: every page is in the nav and every relative link
    and anchor resolves."""
    proc = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "tutorial" / "index.html").is_file()
    assert (tmp_path / "site" / "howto" / "disaster-recovery" / "index.html").is_file()


@pytest.mark.parametrize(
    ("link", "reported"),
    [
        ("[gone](howto/no-such-page.md)", "no-such-page.md"),
        ("[gone](cli.md#no-such-heading)", "no-such-heading"),
    ],
)
def test_a_broken_link_fails_the_build(tmp_path: Path, link: str, reported: str) -> None:
    """The strict build is a real check: one broken link or anchor makes it fail."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(DOCS, tmp_path / "docs")
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text() + f"\nSee {link}.\n")
    proc = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0
    assert reported in proc.stdout + proc.stderr
