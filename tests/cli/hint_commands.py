"""Running the commands a message prints, verbatim: every hint is executed by a test."""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable

from .helpers import Project, Result

_QUOTED = re.compile(r"`([^`]+)`")


def printed_commands(text: str) -> list[str]:
    """Each command line the text quotes in backticks (`dvault ...`, `git ...`)."""
    return [c for c in _QUOTED.findall(text) if c.startswith(("dvault ", "git "))]


def the_command(text: str, containing: str) -> str:
    """The one printed command line that contains ``containing``."""
    found = [c for c in printed_commands(text) if containing in c]
    assert len(found) == 1, f"{containing!r} in {printed_commands(text)} from {text!r}"
    return found[0]


def run_line(
    project: Project,
    line: str,
    git: Callable[..., object] | None = None,
) -> list[Result]:
    """Run a printed command line (``a && b``) as a shell would, requiring each step to
    succeed: dvault through the project, git through ``git`` (or a subprocess)."""
    results = []
    for step in line.split(" && "):
        words = shlex.split(step)
        if words[0] == "dvault":
            results.append(project.ok(*words[1:]))
        else:
            assert words[0] == "git", line
            if git is not None:
                git(*words[1:])
            else:
                subprocess.run(words, cwd=project.root, env=project.env, check=True)
    return results
