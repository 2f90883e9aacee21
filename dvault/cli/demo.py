"""``dvault demo``: a walk-through on a generated project, printed as it goes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dvault.cli.common import Invocation, with_invocation


def register(app: typer.Typer) -> None:
    app.command()(demo)


@with_invocation()
def demo(
    inv: Invocation,
    path: Annotated[Path, typer.Argument(help="Where to create the demo project.")] = Path(
        "dvault-demo"
    ),
) -> None:
    """Generate a small ML project, version it twice, restore v1 and verify every byte.

    A walk-through that prints what it does; it has no --json.

    \b
    Examples:
      dvault demo
      dvault demo /tmp/dvault-demo
    """
    from dvault.demo import run_demo  # deferred: the demo pulls in blake3 and the store

    run_demo(inv.cwd() / path, inv.out.message)
