"""``dvault run`` and ``rerun``: a command's outputs committed with the command and its
inputs, and that command run again to see whether it reproduces them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_repository
from dvault.errors import UsageError

if TYPE_CHECKING:
    from dvault.repo import Repo


def register(app: typer.Typer) -> None:
    app.command(context_settings={"allow_interspersed_args": False})(run)
    app.command()(rerun)


@with_repository(takes_paths=True)
def run(
    inv: Invocation,
    repo: Repo,
    output: Annotated[list[str], typer.Option("--output", "-o", help="Path the command writes.")],
    inputs: Annotated[
        list[str] | None, typer.Option("--input", help="Data it reads: REV or PATH@REV.")
    ] = None,
    sources: Annotated[
        list[str] | None, typer.Option("--source", help="Code it runs (content is hashed).")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Commit message.")] = None,
    kind: Annotated[str | None, typer.Option(help="Kind of a new output root.")] = None,
    allow_dirty: Annotated[
        bool,
        typer.Option(
            "--allow-dirty",
            help="Run even when an --input is not what the work tree holds, and record that.",
        ),
    ] = False,
    sign: Annotated[bool, typer.Option("--sign", help="Sign the commit with your key.")] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="Which key --sign uses (dvault key list).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a command after `--` and commit its outputs with the command and inputs recorded.

    Each --input must be what the work tree holds (no other version checked out, no
    changes not committed); otherwise nothing runs (exit 1), unless --allow-dirty, which
    records what was there. The content id present is recorded either way.

    With --sign the commit is signed (the key is loaded before the command runs), so a
    review can say who recorded it.

    With --json, what the command prints goes to stderr, so stdout stays one document.

    \b
    Examples:
      dvault run --input data/raw@v1 --output data/features -- python featurize.py
      dvault run -o data/synth --source gen.py -m "synthetic v2" -- python gen.py --n 1000
      dvault run --input data/labels@v1 --allow-dirty -o models -- python train.py
      dvault run --input data/labels@v2 -o models --sign -- python train.py
    """
    from dvault.ops.runs import run as do_run  # deferred: runs pulls in blake3

    out = inv.out
    command = inv.paths or []
    with out.children_to_stderr(as_json):
        result = do_run(
            repo,
            command,
            output,
            inv.cwd().resolve(),
            message,
            inputs,
            [str(inv.cwd() / p) for p in sources or []],
            kind,
            allow_dirty,
            sign,
            key,
        )
    if as_json:
        out.json(
            {
                "command": command,
                "exit_code": result.exit_code,
                "seconds": round(result.seconds, 3),
                "commit": result.commit.hex() if result.commit else None,
                "inputs": result.inputs,
            }
        )
        if result.commit is None:
            raise typer.Exit(1)
        return
    if result.commit is None:
        out.problem(f"command exited {result.exit_code}; outputs not committed")
        raise typer.Exit(1)
    for record in result.inputs:
        if record.get("changed_during_run"):
            named = f"{record.get('path') or ''}@{record['rev']}".lstrip("@")
            out.tell(f"warning: the command changed its input {named} while it ran (recorded)")
    out.message(f"ran in {result.seconds:.1f} s; committed outputs as {result.commit.hex()[:12]}")


@with_repository()
def rerun(
    inv: Invocation,
    repo: Repo,
    rev: Annotated[str, typer.Argument(help="A commit made by dvault run.")],
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Run the recorded command even though the commit has no good signature "
            "from a trusted signer (it runs whatever the commit says).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a recorded command again and report whether its outputs match, file by file.

    It runs in a scratch work tree (under .dvault/tmp, removed afterwards) holding the
    data REV recorded: its tracked roots but the outputs, and each recorded input at its
    recorded version, beside a copy of the project's other files. Your work tree is not
    touched. An input recorded with --allow-dirty was never stored: refused (exit 1).

    The command, its directory and the commit's signature are shown first. It runs only
    when the commit has a good signature from a trusted signer, with --yes, or when you
    answer yes on a terminal; otherwise nothing runs (exit 2). A directory or output
    outside the project, or a command whose secrets were redacted, is refused (exit 2).
    Exit 1 when the outputs differ.

    The result (when, dvault version, each output's recorded and reproduced id, match or
    not) is stored in .dvault/reruns/ for `dvault review`'s "rerun verified" check.

    \b
    Examples:
      dvault rerun HEAD
      dvault rerun v2 --yes --json
    """
    # deferred: runs pulls in blake3
    from dvault.ops.runs import plan_rerun
    from dvault.ops.runs import rerun as do_rerun

    out = inv.out
    plan = plan_rerun(repo, rev)
    consent_needed = not (plan.trusted or yes)
    if consent_needed or not out.quiet:  # what will run, before it runs
        for text in plan.describe():
            out.tell(text)
    if consent_needed:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise UsageError(
                f"not run: {rev} is not signed by a trusted signer "
                f"({plan.signature.status}); check the command above and pass --yes to "
                "run it"
            )
        if not out.confirm("Run this command?"):
            raise UsageError("not run: you answered no")
    with out.children_to_stderr(as_json):
        result = do_rerun(repo, plan)
    if as_json:
        out.json(
            {
                "rev": rev,
                "matches": result.matches,
                "differences": result.differences,
                "code": plan.code,
                "record": result.record.to_json() if result.record else None,
            }
        )
        if not result.matches:
            raise typer.Exit(1)
        return
    if result.matches:
        out.message(f"reproduced: the outputs match {rev} byte for byte (recorded for review)")
        return
    for line in result.differences[:50]:
        out.data(f"  {line}")
    out.problem(
        f"NOT reproduced: {len(result.differences)} difference(s) from {rev}, run in a "
        "scratch work tree holding its recorded inputs"
    )
    raise typer.Exit(1)
