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


def _review_format(fmt: str, as_json: bool, **_: object) -> None:
    _check_format(fmt, as_json, _REVIEW_FORMATS)


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
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Reproducibility review of a git revision: pinned data, lineage, signatures, and
    whether each remote can restore it. Exit 0 only when at least one remote can and the
    pinned commit's signature (if any) is not bad.

    \b
    Examples:
      dvault review                        # the git HEAD, as Markdown
      dvault review v1.0 --format html --read-data > review.html
      dvault review main --json
    """
    from dvault import __version__, reviewrender
    from dvault import review as rv  # deferred: ~7 ms of imports --help would pay

    result = rv.review(repo, git_rev, read_data)
    fmt = "json" if as_json else fmt  # checked before the repository was opened
    if fmt == "json":
        inv.out.json(result.to_json())
    else:
        made = reviewrender.produced_now(__version__)
        inv.out.report(reviewrender.RENDERERS[fmt](result, made), nl=False)
    if not result.passed:
        raise typer.Exit(1)
