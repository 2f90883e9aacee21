"""What a new user meets in the first hour (issue 20, item 10): --version, -q/-v after the
command, plain help, one "Did you mean", status's detached/collapsed/quoted lines, add over
nested roots, a corrupt config, the demo's steps."""

from __future__ import annotations

import re
from importlib.metadata import version

import click
import pytest

from .helpers import Project, Run, command_tree, one_error_line, run_in_process


def test_version_prints_the_package_version(run: Run) -> None:
    """`dvault --version` and `-V`: `dvault X.Y.Z` from the installed package, exit 0."""
    for flag in ("--version", "-V"):
        result = run(flag)
        assert result.code == 0, result.describe()
        assert result.out == f"dvault {version('dvault')}\n", result.describe()


def test_every_command_takes_quiet_and_verbose_after_its_word() -> None:
    """The global -q/-v are accepted after every command word (dvault commit -q)."""
    missing = []
    for words, command in command_tree().items():
        if not words or isinstance(command, click.Group):
            continue
        opts = {o for p in command.params for o in getattr(p, "opts", [])}
        if not {"-q", "--quiet", "-v", "--verbose"} <= opts:
            missing.append(" ".join(words))
    assert not missing, missing


def test_quiet_and_verbose_after_the_command(project: Project) -> None:
    project.write("data/a.txt", "a\n")
    project.ok("add", "data")
    quiet = project.ok("commit", "-q", "-m", "first")
    assert quiet.out == "" and quiet.err == "", quiet.describe()
    assert [c["message"] for c in project.log()] == ["first"]
    # a value that looks like the flag is still the option's value
    project.ok("commit", "--allow-empty", "-m", "-q")
    assert project.log()[0]["message"] == "-q"
    verbose = project.ok("status", "-v")
    assert "dvault: repository " in verbose.err and "nothing to commit" in verbose.out
    both = project.fails(2, "-q", "status", "-v")
    assert "contradict" in one_error_line(both)


def test_no_markup_escape_in_any_help(capsys: pytest.CaptureFixture[str]) -> None:
    """No command's help shows typer's rich escape (`\\[required]`)."""
    leaked = []
    for words in command_tree():
        code, out, _ = run_in_process([*words, "--help"], capsys)
        assert code == 0
        if "\\[" in out:
            leaked.append(" ".join(words))
    assert not leaked, leaked
    code, out, _ = run_in_process(["add", "--help"], capsys)
    assert re.search(r"PATHS\.\.\.\s+Files or folders to track\.\s+\[required\]", out), out


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["sta"], "no such command 'sta'. Did you mean 'stash', 'stats', 'status' or 'tag'?"),
        (["hooks", "instal"], "no such command 'instal'. Did you mean 'install' or 'uninstall'?"),
        (["status", "--jsn"], "no such option '--jsn'. Did you mean '--json'?"),
        (["zzz"], "no such command 'zzz' (see"),
    ],
)
def test_did_you_mean_once(run: Run, args: list[str], line: str) -> None:
    result = run(*args)
    assert result.code == 2, result.describe()
    error = one_error_line(result)
    assert line in error and error.count("id you mean") <= 1, error


def test_status_names_the_tag_a_detached_head_is_at(tracked: Project) -> None:
    tracked.ok("tag", "v1")
    first = tracked.head()
    tracked.write("data/a.txt", "changed\n")
    second = tracked.commit("second")
    tracked.ok("checkout", "v1")
    assert tracked.ok("status").out.splitlines()[0] == "HEAD detached at v1"
    tracked.ok("checkout", second[:12])  # no tag names it: the short id, as before
    assert tracked.ok("status").out.splitlines()[0] == f"HEAD detached at {second[:12]}"
    tracked.ok("checkout", first)  # by id, but a tag names it
    assert tracked.ok("status").out.splitlines()[0] == "HEAD detached at v1"


def test_status_collapses_a_folder_of_new_files(tracked: Project) -> None:
    """A folder with nothing tracked in it is one line with its count unless -u; --json
    keeps every path; the hint (dvault add PATH) works on the line's path."""
    for c in range(3):
        for i in range(80):
            tracked.write(f"data/images/class_{c}/{i:03}.png", f"{c}-{i}")
    tracked.write("data/sub/new.txt", "new\n")  # data/sub has a tracked file: listed alone
    out = tracked.ok("status").out
    new = out.split("New files under tracked roots (dvault add PATH, or commit -a):\n")[1]
    assert new.splitlines() == ["  data/images/ (240 new files)", "  data/sub/new.txt"], out
    every = tracked.ok("status", "-u").out
    assert "  data/images/class_2/079.png" in every and "new files)" not in every
    assert "  data/images/class_0/000.png" in tracked.ok("status", "--untracked-files").out
    assert len(tracked.status()["untracked"]) == 241
    tracked.ok("add", "data/images/")  # the path the line shows
    st = tracked.status()
    assert st["untracked"] == ["data/sub/new.txt"] and len(st["staged"]) == 240


def test_names_with_control_characters_are_quoted_as_git_does(tracked: Project) -> None:
    """status, diff, show (changes and a folder listing) quote such a name in C style;
    printable UTF-8 is shown as it is; --json keeps the exact name."""
    odd = {"a\nb.csv": '"a\\nb.csv"', "t\tab\x1b[2K": '"t\\tab\\033[2K"', 'q"b': '"q\\"b"'}
    for name in odd:
        tracked.write(f"data/{name}", "x\n")
    tracked.write("data/été.csv", "x\n")
    status = tracked.ok("status").out
    for shown in odd.values():
        assert f'  "data/{shown[1:]}' in status, status
    assert "  data/été.csv\n" in status
    assert set(tracked.status()["untracked"]) >= {f"data/{n}" for n in odd}
    assert '  "data/a\\nb.csv"' in tracked.ok("diff").out
    tracked.commit("odd names")
    assert 'A  "data/t\\tab\\033[2K"' in tracked.ok("show", "HEAD").out
    listing = tracked.ok("show", "HEAD:data").out
    assert '"a\\nb.csv"' in listing and "  été.csv" in listing, listing
    changes = tracked.ok("show", "HEAD", "--json").json()["changes"]
    assert {c["path"] for c in changes} >= {f"data/{n}" for n in odd}


def test_add_over_roots_of_other_kinds_says_what_it_replaces(project: Project) -> None:
    """`dvault add data` over roots data/images (dataset) and data/labels (labels): one
    line naming them and the kind lost, nothing changed; the printed command replaces them."""
    project.write("data/images/1.png", "png")
    project.write("data/labels/1.json", "{}")
    project.ok("add", "data/images", "--kind", "dataset")
    project.ok("add", "data/labels", "--kind", "labels")
    project.commit("two roots")
    project.write("data/train.csv", "id\n")
    before = project.status()
    line = one_error_line(project.fails(2, "add", "data"))
    assert "data/images (dataset), data/labels (labels)" in line, line
    assert "losing the kind labels" in line, line
    assert project.status() == before
    hint = re.search(r"run `dvault ([^`]*)`", line)
    assert hint is not None, line
    project.ok(*hint.group(1).split())
    project.commit("one root")
    assert project.log("-n", "1")[0]["roots"] == {"data": "dataset"}
    assert project.status()["clean"] is True


def test_add_over_roots_of_the_same_kind_needs_no_flag(project: Project) -> None:
    project.write("data/a/1", "1")
    project.write("data/b/2", "2")
    project.ok("add", "data/a", "data/b", "--kind", "dataset")
    project.ok("add", "data")
    project.commit("merged")
    assert project.log("-n", "1")[0]["roots"] == {"data": "dataset"}


@pytest.mark.parametrize(
    "text",
    [b"[core\nformat = 1\n", b"\xff\xfe", b'[core]\nformat = "x"\n', b"[remote.a]\nx = 1\n"],
)
def test_status_refuses_a_corrupt_config_like_every_command(tracked: Project, text: bytes) -> None:
    """status (text and --json) reads .dvault/config as every command does: the same one
    line, exit 3 or 2, nothing printed on stdout."""
    (tracked.root / ".dvault" / "config").write_bytes(text)
    errors = set()
    for args in (["status"], ["status", "--json"], ["log"], ["diff"]):
        result = tracked.run(*args)
        assert result.code in (2, 3) and result.out == "", result.describe()
        line = one_error_line(result) if "--json" not in args else ""
        if line:
            errors.add((result.code, line))
    assert len(errors) == 1, errors
    assert ".dvault/config" in next(iter(errors))[1]
