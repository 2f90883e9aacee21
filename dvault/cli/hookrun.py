"""What ``dvault hook NAME ARGS...`` (the command the installed git hooks run) does once
its arguments are parsed, shared by the typer command (``hooks.hook``) and the fast path
(``fastpath``), so the two print the same bytes by construction. It imports neither typer
nor click: every ``git commit``, ``checkout``, ``merge`` and ``push`` runs a hook, and
the hook runs this without them.
"""

from __future__ import annotations

from pathlib import Path

from dvault.cli.invocation import Invocation
from dvault.errors import DvaultError


def run_hook(inv: Invocation, name: str, args: list[str]) -> int:
    """Run the git hook ``name`` with git's ``args``; one line on stderr says what it did
    (``dvault: post-checkout: ...``) or why it failed. Returns the exit code for git."""
    from dvault.ops import hooks  # deferred: ~20 ms of imports --help would pay

    # Not with_repository: a hook reports any failure, opening included, as its own
    # line ("dvault: post-checkout: ...") for git to show, with the error's exit code.
    # git runs a merge driver at the top of its work tree; %P, the file's path from there,
    # says which project (a project may live in a subdirectory of the git work tree)
    if name == "merge-driver" and args and len(args) == 4 and "/" in args[3]:
        inv.chdir = inv.cwd() / Path(args[3]).parent
    try:
        with inv.open() as repo:
            message = hooks.run(repo, name, args)
    except DvaultError as exc:
        inv.out.tell(f"{name}: {exc}")
        return exc.exit_code
    inv.out.tell(f"{name}: {message}")
    return 0
