"""``dvault completion``: the tab-completion script for a shell."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from typer._completion_shared import _get_shell_name, get_completion_script

from dvault.cli.common import Invocation, with_invocation
from dvault.errors import UsageError


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"
    pwsh = "pwsh"


def register(app: typer.Typer) -> None:
    app.command()(completion)


@with_invocation()
def completion(
    inv: Invocation,
    shell: Annotated[
        Shell | None,
        typer.Argument(help="bash, zsh, fish or powershell (default: the shell you run in)."),
    ] = None,
) -> None:
    """Print the tab-completion script for a shell, to save or eval; --install-completion
    installs it for the shell you run in.

    \b
    Examples:
      eval "$(dvault completion bash)"     # this bash session only
      dvault completion bash > ~/.local/share/bash-completion/completions/dvault
      dvault completion zsh > ~/.zfunc/_dvault      # a folder on your $fpath
      dvault completion fish > ~/.config/fish/completions/dvault.fish
    """
    name = shell.value if shell else _get_shell_name()
    if name not in set(Shell):
        raise UsageError(
            f"cannot complete for shell {name!r}; name one: bash, zsh, fish or powershell"
            if name
            else "cannot tell which shell you use; name it: bash, zsh, fish or powershell"
        )
    inv.out.report(
        get_completion_script(prog_name="dvault", complete_var="_DVAULT_COMPLETE", shell=name)
    )
