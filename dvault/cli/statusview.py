"""What ``dvault status`` shows: the body of the command after its options are parsed,
shared by the typer command (``tracking.status``) and the fast path (``fastpath``), so
the two print the same bytes by construction. It imports neither typer nor click.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dvault.cli.invocation import Invocation

if TYPE_CHECKING:
    from dvault.repo import Repo
    from dvault.workspace.status import Status


def show_status(
    inv: Invocation, repo: Repo, as_json: bool, exit_code: bool, every_file: bool
) -> int:
    """Print the status of ``repo`` (one JSON document with ``as_json``; with
    ``every_file`` each new file, not one line per new folder); returns the exit code:
    1 when ``exit_code`` asks and anything is uncommitted, else 0."""
    st = repo.status()
    pin = repo.pin_state()
    if as_json:
        inv.out.json({**st.to_json(), "pin": pin.to_json() if pin is not None else None})
    else:
        pin_line = pin.warning() if pin is not None else None
        _print_status(inv, repo, st, every_file, pin_line)
    return 1 if exit_code and not st.clean else 0


def _print_status(
    inv: Invocation, repo: Repo, st: Status, every_file: bool, pin_line: str | None
) -> None:
    out = inv.out
    if st.branch:
        out.data(f"On branch {st.branch}")
    else:
        assert st.head is not None, "a detached HEAD names a commit"
        out.data(f"HEAD detached at {st.detached_at or st.head.hex()[:12]}")
    if st.head is None:
        out.data("No commits yet")
    if pin_line is not None:  # the workspace is not at the data the git commit pins
        out.data(out.color(pin_line, "yellow"))
    if st.merging is not None:
        out.data()
        out.data("Merging ", st.merging, " (dvault merge --continue to commit, --abort to undo)")
        if st.unmerged:
            out.data("Unmerged paths (dvault checkout --ours|--theirs -- PATH, or edit and add):")
            for p in st.unmerged:
                out.data(out.color(f"  {'unmerged:':10}{inv.shown(repo, p)}", "red"))
    if st.staged:
        out.data()
        out.data("Changes to be committed:")
        for c in st.staged:
            out.data(out.color(f"  {c.status + ':':10}{inv.shown(repo, c.path)}", "green"))
    if st.modified or st.deleted:
        out.data()
        out.data("Changes not staged for commit (dvault add PATH, or commit -a):")
        changes = [("modified", p) for p in st.modified] + [("deleted", p) for p in st.deleted]
        for label, p in sorted(changes, key=lambda x: x[1]):
            out.data(out.color(f"  {label + ':':10}{inv.shown(repo, p)}", "red"))
    if st.untracked:
        out.data()
        out.data("New files under tracked roots (dvault add PATH, or commit -a):")
        for p, count in _new_lines(st, every_file):
            files = "" if not count else f" ({count} new file{'s' if count > 1 else ''})"
            out.data(out.color(f"  {inv.shown(repo, p)}{'/' if count else ''}{files}", "red"))
    if st.lost_found:
        out.data()
        out.data(lost_found_line(st))
    if st.clean:
        out.data(f"nothing to commit, {'workspace clean' if pin_line is None else 'but see above'}")


def _new_lines(st: Status, every_file: bool) -> list[tuple[bytes, int]]:
    """The new files to list: (path, 0) each, or for a folder with nothing tracked in it
    (st.new_dirs), (folder, its count of new files) once, where its first file was."""
    lines: list[tuple[bytes, int]] = []
    shown: set[bytes] = set()
    for path in st.untracked:
        folder = None if every_file else _folder_of(path, st.new_dirs)
        if folder is None:
            lines.append((path, 0))
        elif folder not in shown:
            shown.add(folder)
            lines.append((folder, st.new_dirs[folder]))
    return lines


def _folder_of(path: bytes, folders: dict[bytes, int]) -> bytes | None:
    parts = path.split(b"/")
    for i in range(1, len(parts)):
        if b"/".join(parts[:i]) in folders:
            return b"/".join(parts[:i])
    return None


def lost_found_line(st: Status) -> str:
    """One line for the copies forced checkouts kept (workspace/lostfound.py)."""
    files = sum(e.files for e in st.lost_found)
    return (
        f"{files} file(s) kept in .dvault/lost+found by checkout --force (latest "
        f"{st.lost_found[-1].when}); dvault gc removes them after [gc] lost_found_days"
    )
