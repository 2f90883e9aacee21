"""One run of the command line, without the CLI framework: its :class:`Invocation`, how
dvault's own warnings print, and how an exception becomes one error line and an exit
code. ``runner`` (the full command line) and ``fastpath`` (``status`` before typer and
click load) share these, so both paths report alike; nothing here imports typer or click.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from dvault import textsafe
from dvault.cli.output import Output
from dvault.errors import DvaultError, UsageError

if TYPE_CHECKING:
    from dvault.repo import Repo


class Invocation:
    """One run of the command line: its output, the paths given after ``--`` (None when
    there was no ``--``), and the directory it runs in (``-C``).

    The entry point makes one per run and hands it to click as the context object; the
    global options' callback completes it.
    """

    def __init__(self, out: Output | None = None, paths: list[str] | None = None) -> None:
        self.out = out or Output()
        self.paths = paths
        self.chdir: Path | None = None

    def cwd(self) -> Path:
        return Path(self.chdir or ".")

    def full(self, paths: list[str] | None) -> list[str]:
        """``paths`` as the user typed them, relative to where the command runs."""
        return [str(self.cwd() / p) for p in paths or []]

    def local_url(self, url: str) -> str:
        """A relative remote path is relative to where the command runs (``-C DIR``)."""
        if "://" in url or os.path.isabs(url):
            return url
        return str((self.cwd() / url).resolve())

    def rel(self, repo: Repo, path: bytes) -> str:
        """A project path as the user should see it (relative to the current directory)."""
        full = repo.root / os.fsdecode(path)
        try:
            return os.path.relpath(full, self.cwd().resolve())
        except ValueError:
            return str(full)

    def shown(self, repo: Repo, path: bytes) -> str:
        """A project path for a line of output: :meth:`rel`, quoted as git quotes a name
        that holds a control character, a quote or a backslash (textsafe.path)."""
        return textsafe.path(self.rel(repo, path))

    def no_paths(self) -> None:
        """Refuse paths after ``--`` for a command that takes none."""
        if self.paths is not None:
            import click  # deferred: click is slow to import; the fast path takes no paths

            words = click.get_current_context().command_path.split()[1:]
            raise UsageError(f"{' '.join(words)} does not take paths after --")

    def open(self) -> Repo:
        """The repository this run works in, reporting progress through the Output."""
        from dvault.repo import Repo  # deferred: repo pulls in blake3 and the store

        repo = Repo.open(self.cwd())
        repo.progress = self.out.progress
        self.out.note(f"repository {repo.dir}")
        return repo


def set_level(inv: Invocation, *, quiet: bool, verbose: bool) -> None:
    """Add ``-q``/``-v`` (given before or after the command word) to this run's output."""
    quiet, verbose = inv.out.quiet or quiet, inv.out.verbose or verbose
    if quiet and verbose:
        raise UsageError("--quiet and --verbose contradict each other; use one")
    inv.out.quiet, inv.out.verbose = quiet, verbose


@contextlib.contextmanager
def dvault_warnings(out: Output) -> Iterator[None]:
    """Print dvault's own warnings (config.ConfigWarning: a committed setting ignored) as
    one escaped line each on stderr, whatever PYTHONWARNINGS says; others as Python
    would."""
    with warnings.catch_warnings():
        warnings.filterwarnings("default", category=UserWarning, module=r"dvault(\.|$)")
        shown = warnings.showwarning

        def show(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if category.__module__.split(".")[0] == "dvault":
                out.tell(f"warning: {message}")
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def fail(exc: BaseException, inv: Invocation) -> NoReturn:
    """Report what a command raised as one line and exit with its code: a
    :class:`~dvault.errors.DvaultError` by its class, a system failure no layer
    translated (a full disk, a permission) and an LMDB error as a storage error (3), an
    interrupt as 130, a closed stdout silently. Anything else is a bug: re-raised, so its
    traceback shows."""
    if isinstance(exc, DvaultError):
        inv.out.fail(str(exc), exc.exit_code, type(exc).__name__)
    if isinstance(exc, BrokenPipeError):
        sys.stderr.close()
        sys.exit(0)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        reason = (
            "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
        )
        inv.out.fail(f"{reason}{where}", 3, "StorageError")
    if isinstance(exc, KeyboardInterrupt):
        inv.out.fail("interrupted", 130, "Interrupted")
    if isinstance(exc, Exception) and type(exc).__module__.split(".")[0] == "lmdb":
        reason = str(exc)
        if "Input/output error" in reason and _disk_full(inv.cwd()):
            reason += " (no space left on device)"  # LMDB's word for a write cut short
        inv.out.fail(f"repository database: {reason}", 3, "StorageError")
    raise exc  # a bug: keep the traceback


def _disk_full(path: os.PathLike[str] | str) -> bool:
    """Less than 1 MiB free where ``path`` is (LMDB reports a short write as EIO)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20
