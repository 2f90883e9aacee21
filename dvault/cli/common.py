"""What every command shares: the :class:`Invocation` (where this run works, the paths
after ``--``, its :class:`~dvault.cli.output.Output`), the decorators that hand a command
its invocation and its open repository (borg's ``with_repository``), and the options many
commands take.

A command is a function whose first parameters are what the decorator injects and whose
other parameters are its typer options::

    @with_repository()
    def status(inv: Invocation, repo: Repo, as_json: JsonOpt = False) -> None: ...

The decorator shows typer only the options (and the global ``-q``/``-v``, hidden, so
they work after the command word too), refuses paths after ``--`` unless the command
takes them, opens the repository for the command and closes it afterwards, whatever the
body raises. Locking is not its business: each operation takes the writer lock itself.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Concatenate, Generic, ParamSpec

import click
import typer
from typer.core import TyperCommand, TyperGroup

from dvault.cli.invocation import Invocation as Invocation  # its home: cli/invocation.py
from dvault.cli.invocation import set_level as set_level

if TYPE_CHECKING:
    from dvault.repo import Repo

P = ParamSpec("P")

JSON_HELP = "Print one JSON document on stdout (keys in docs/cli.md)."

JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
QUIET_HELP = "Only errors and the data asked for: no confirmations, summaries or progress bars."
VERBOSE_HELP = "Extra detail and timings on stderr."
_QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP, hidden=True)]
_VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP, hidden=True)]
_AFTER = {"quiet_after": _QuietOpt, "verbose_after": _VerboseOpt}
"""The global -q/-v, which every command also takes after its word (``dvault commit -q``)."""
AcceptRootsOpt = Annotated[
    bool,
    typer.Option(
        "--accept-roots", help="Start tracking the new roots the revision names (see them first)."
    ),
]


def current() -> Invocation:
    """This run's invocation: the click context's object, or a new one when the app runs
    without :func:`dvault.cli.main` (a test runner calling the app itself)."""
    return click.get_current_context().ensure_object(Invocation)


def with_invocation(
    *, takes_paths: bool = False, check: Callable[..., object] | None = None
) -> Callable[[Callable[Concatenate[Invocation, P], None]], Command[P]]:
    """A command that needs no repository: it receives the :class:`Invocation` first.

    ``takes_paths``: the command reads paths after ``--`` (``inv.paths``); otherwise they
    are a usage error. ``check`` is called with the options before anything else, so a
    usage error is reported before the command touches anything.
    """

    def decorate(body: Callable[Concatenate[Invocation, P], None]) -> Command[P]:
        def run(*args: P.args, **options: P.kwargs) -> None:
            inv = _start(takes_paths, check, options)
            body(inv, *args, **options)

        return Command(run, body, injected=1)

    return decorate


def with_repository(
    *, takes_paths: bool = False, check: Callable[..., object] | None = None
) -> Callable[[Callable[Concatenate[Invocation, Repo, P], None]], Command[P]]:
    """A command on the repository it runs in: it receives the :class:`Invocation` and the
    open repository, which is closed when the command ends.

    ``takes_paths`` and ``check`` as for :func:`with_invocation`; both come before the
    repository is opened, so a bad option is a usage error even outside a repository.
    """

    def decorate(body: Callable[Concatenate[Invocation, Repo, P], None]) -> Command[P]:
        def run(*args: P.args, **options: P.kwargs) -> None:
            inv = _start(takes_paths, check, options)
            with inv.open() as repo:
                body(inv, repo, *args, **options)

        return Command(run, body, injected=2)

    return decorate


def _start(
    takes_paths: bool, check: Callable[..., object] | None, options: dict[str, object]
) -> Invocation:
    inv = current()
    if not takes_paths:
        inv.no_paths()
    if check is not None:
        check(**options)
    return inv


class Command(Generic[P]):
    """A command as typer sees it: the body's name and help, and the body's parameters
    after the ``injected`` ones (typer turns every parameter it sees into an option).

    typer reads the options from :attr:`__signature__` with their annotations evaluated;
    the injected parameters name types imported only for the type checker, so they are
    left out before anything is evaluated. That happens when typer first asks, for the
    one command a run builds: evaluating every command's annotations at start-up would
    cost more than importing the whole command line.
    """

    __wrapped__: Callable[..., None]

    def __init__(self, run: Callable[P, None], body: Callable[..., None], injected: int) -> None:
        functools.update_wrapper(self, body)
        skip = body.__code__.co_varnames[:injected]
        self.__annotations__ = {k: v for k, v in body.__annotations__.items() if k not in skip}
        self._run = run
        self._injected = injected

    def __call__(self, *args: P.args, **options: P.kwargs) -> None:
        quiet, verbose = options.pop("quiet_after", False), options.pop("verbose_after", False)
        set_level(current(), quiet=bool(quiet), verbose=bool(verbose))
        self._run(*args, **options)

    @functools.cached_property
    def __signature__(self) -> inspect.Signature:
        params = list(inspect.signature(self.__wrapped__).parameters.values())[self._injected :]
        hints = typing.get_type_hints(self, include_extras=True)
        self.__annotations__ = hints  # evaluated once: typer reads them again
        params = [p.replace(annotation=hints.get(p.name, p.empty)) for p in params]
        kw = inspect.Parameter.KEYWORD_ONLY
        after = [inspect.Parameter(n, kw, default=False, annotation=a) for n, a in _AFTER.items()]
        return inspect.Signature([*params, *after])


def _format_params(command: click.Command, ctx: click.Context, out: click.HelpFormatter) -> None:
    """The Arguments and Options sections of a command's help, as typer writes them but
    for two faults of typer 0.20 with click 8.5: the rich markup escape typer puts on
    ``[required]`` and ``[default: ...]`` when rich is installed, although dvault's help
    is plain text (it printed ``\\[required]``), and an argument's help, which click's
    ``Argument`` now resets (it is read back from the command's signature)."""
    sections: dict[str, list[tuple[str, str]]] = {"argument": [], "option": []}
    helps = _argument_helps(command.callback)
    for param in command.get_params(ctx):
        if isinstance(param, click.Argument) and not getattr(param, "help", None):
            param.help = helps.get(param.name or "")
        record = param.get_help_record(ctx)
        if record is not None and param.param_type_name in sections:
            name, text = record
            sections[param.param_type_name].append((name, text.replace("\\[", "[")))
    for title, records in (("Arguments", sections["argument"]), ("Options", sections["option"])):
        if records:
            with out.section(title):
                out.write_dl(records)


def _argument_helps(callback: Callable[..., object] | None) -> dict[str, str]:
    """The help of each ``typer.Argument`` in a command's signature, by parameter name."""
    if callback is None:
        return {}
    helps = {}
    for param in inspect.signature(callback).parameters.values():
        for meta in getattr(param.annotation, "__metadata__", ()):
            if isinstance(meta, typer.models.ArgumentInfo) and meta.help:
                helps[param.name] = meta.help
    return helps


class DvaultCommand(TyperCommand):
    """Every dvault command: its help in plain text (:func:`_format_params`)."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _format_params(self, ctx, formatter)


class DvaultGroup(TyperGroup):
    """dvault and its command groups: plain-text help as :class:`DvaultCommand`."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _format_params(self, ctx, formatter)
        self.format_commands(ctx, formatter)


def plain_help(app: typer.Typer) -> None:
    """Make every command and group registered in ``app`` (groups' own commands too) a
    :class:`DvaultCommand` or :class:`DvaultGroup`."""
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = DvaultCommand
    for group in app.registered_groups:
        group.cls = DvaultGroup
        if group.typer_instance is not None:
            plain_help(group.typer_instance)
