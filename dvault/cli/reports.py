"""``dvault lineage`` and ``review``: rendered reports on where a version came from and
whether a git revision's data can be restored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, with_repository
from dvault.errors import UsageError

if TYPE_CHECKING:
    from dvault.repo import Repo

_LINEAGE_FORMATS = ("text", "json", "dot", "html")
_REVIEW_FORMATS = ("md", "json", "html")


def register(app: typer.Typer) -> None:
    for command in (lineage, review):
        app.command()(command)


def _check_format(fmt: str, as_json: bool, choices: tuple[str, ...]) -> None:
    """``--json`` is ``--format json``; asking for both JSON and another format is an error."""
    if as_json:
        if fmt not in (choices[0], "json"):
            raise UsageError(f"--json contradicts --format {fmt}; use one")
        return
    if fmt not in choices:
        raise UsageError(f"unknown format {fmt!r}; use {', '.join(choices[:-1])} or {choices[-1]}")


def _lineage_format(fmt: str, as_json: bool, **_: object) -> None:
    _check_format(fmt, as_json, _LINEAGE_FORMATS)


def _review_format(fmt: str, as_json: bool, require: str | None = None, **_: object) -> None:
    _check_format(fmt, as_json, _REVIEW_FORMATS)
    if require is not None:
        _required(require)


def _required(text: str) -> None:
    """``--require`` checked before the repository is opened (the usage error
    ``Repo.review`` would raise, naming the valid checks)."""
    from dvault import verdict  # deferred: pulls in the environment and rerun records

    verdict.parse_required(text)


@with_repository(check=_lineage_format)
def lineage(
    inv: Invocation,
    repo: Repo,
    rev: Annotated[str, typer.Argument(help="Start from this revision.")] = "HEAD",
    fmt: Annotated[str, typer.Option("--format", help="text, json, dot or html.")] = "text",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Show where a data version came from: parents, inputs, sources, commands.

    \b
    Examples:
      dvault lineage v2
      dvault lineage v2 --format html > lineage.html
      dvault lineage v2 --format dot | dot -Tsvg > lineage.svg
      dvault lineage v2 --json
    """
    from dvault import lineage as lin  # deferred: ~3 ms of imports --help would pay

    graph = lin.build(repo, rev)
    fmt = "json" if as_json else fmt  # checked before the repository was opened
    if fmt == "text":
        inv.out.report(lin.to_text(graph))
    elif fmt == "json":
        inv.out.json(lin.to_json(graph))
    elif fmt == "dot":
        inv.out.report(lin.to_dot(graph))
    else:
        inv.out.report(lin.to_html(graph, f"dvault lineage of {rev}"))


@with_repository(check=_review_format)
def review(
    inv: Invocation,
    repo: Repo,
    git_rev: Annotated[str, typer.Argument(help="Git revision to review.")] = "HEAD",
    fmt: Annotated[str, typer.Option("--format", help="md, json or html.")] = "md",
    read_data: Annotated[
        bool, typer.Option(help="Also re-hash every object on each remote.")
    ] = False,
    require: Annotated[
        str | None,
        typer.Option(
            "--require",
            metavar="CHECK[,CHECK...]",
            help="Exit 1 unless these checks pass (all: every check).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Reproducibility review of a git revision: pinned data, lineage, signatures,
    whether each remote can restore it, and the verdict as named checks (data_recoverable,
    code_pushed, worktree_clean, environment_captured, rerun_verified, signed,
    datasheet_complete), each pass, fail or not recorded with the command that fixes it.

    Without --require: exit 0 only when at least one remote can restore the data and the
    pinned commit's signature (if any) is not bad. With --require CHECK,...: exit 1 when
    any of those checks did not pass (or the signature is bad), after the report.

    \b
    Examples:
      dvault review                        # the git HEAD, as Markdown
      dvault review v1.0 --format html --read-data > review.html
      dvault review main --json
      dvault review --require code_pushed,signed,rerun_verified
      dvault review --require all --format html > review.html
    """
    from dvault import review as rv  # deferred: ~7 ms of imports --help would pay

    result = repo.review(git_rev, read_data, require)
    fmt = "json" if as_json else fmt  # checked before the repository was opened
    if fmt == "md":
        inv.out.report(rv.to_markdown(result), nl=False)
    elif fmt == "json":
        inv.out.json(result.to_json())
    else:
        inv.out.report(rv.to_html(result), nl=False)
    failed = result.required_failed
    if failed and fmt != "json":  # the document says it: required_failed
        inv.out.problem(f"required check(s) did not pass: {', '.join(failed)}")
    if not result.exit_ok:
        raise typer.Exit(1)
