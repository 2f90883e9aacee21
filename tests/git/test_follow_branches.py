"""Data branches follow git branches: a data commit lands on the dvault branch named like
the git branch checked out, so an experiment never advances (and is never pushed as) main."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import one_error_line

from .conftest import GitProject, remote_refs


def _branches(proj: GitProject) -> dict[str, str]:
    return {b["name"]: b["id"] for b in proj.ok("branch", "--json").json()}


def _current(proj: GitProject) -> str | None:
    return next((b["name"] for b in proj.ok("branch", "--json").json() if b["current"]), None)


def test_the_issue_scenario_experiment_stays_off_a_protected_main(
    v1: GitProject, tmp_path: Path
) -> None:
    """dvault HEAD on main, git on exp: `commit -a` lands on dvault exp, main unmoved;
    `push REMOTE main` does not carry the experiment; the protected main stays right."""
    base = v1.head()
    backup = tmp_path / "backup"
    v1.ok("remote", "add", "--init", "backup", str(backup), "--protect", "main")
    v1.ok("push", "backup", "main")
    v1.git("add", "-A")
    v1.git("commit", "-q", "-m", "data v1")
    v1.ok("hooks", "install")

    v1.git("switch", "-q", "-c", "exp")
    v1.write("data/a.txt", b"forty new labels\n")
    result = v1.ok("commit", "-a", "-m", "add 40 labels")
    assert f"data branch exp created from main at {base[:12]}" in result.out, result.describe()
    exp = v1.head()
    assert _branches(v1) == {"main": base, "exp": exp}
    assert _current(v1) == "exp"
    assert v1.pin() == exp

    # push main: the experiment stays home
    assert v1.ok("push", "backup", "main").out.startswith("backup is up to date")
    assert remote_refs(backup) == {"refs/heads/main": base}
    # pushing exp says old -> new with the subject, the dry run the same way, before appending
    line = f'  refs/heads/exp: (new) -> {exp[:12]} "add 40 labels"'
    dry = v1.ok("push", "--dry-run", "backup", "exp").out
    assert line in dry.splitlines(), dry
    pushed = v1.ok("push", "backup", "exp").out.splitlines()
    assert pushed[:2] == ["pushing to backup:", line], pushed
    assert remote_refs(backup) == {"refs/heads/main": base, "refs/heads/exp": exp}

    # back on git main (post-checkout brings main's pin): the next data commit is main's
    v1.git("add", "dvault.lock")
    v1.git("commit", "-q", "-m", "exp data")
    moved = v1.git("switch", "-q", "main")
    assert "post-checkout: data checked out at" in moved.err, moved.err
    assert _current(v1) == "main"  # the pinned data is main's tip: HEAD attaches to it
    v1.write("data/b.bin", b"main's own change\n")
    result = v1.ok("commit", "-a", "-m", "fix a label")
    assert result.out.startswith("[main "), result.describe()
    main = v1.head()
    assert v1.ok("show", "--json", "HEAD").json()["parents"] == [base]
    assert _branches(v1) == {"main": main, "exp": exp}
    before = v1.ok("push", "backup", "main").out.splitlines()
    assert f'  refs/heads/main: {base[:12]} -> {main[:12]} "fix a label"' in before
    assert remote_refs(backup)["refs/heads/main"] == main


def test_data_of_another_branch_is_refused_and_the_hint_works(
    v1: GitProject, tmp_path: Path
) -> None:
    """Without the hooks, git back on main with exp's data in the workspace: committing
    there would carry exp's data onto main: refused, nothing changed; the named fix works."""
    base = v1.head()
    v1.git("add", "-A")
    v1.git("commit", "-q", "-m", "data v1")
    v1.git("switch", "-q", "-c", "exp")
    v1.write("data/a.txt", b"experiment\n")
    v1.ok("commit", "-a", "-m", "experiment")
    exp = v1.head()
    v1.git("add", "dvault.lock")
    v1.git("commit", "-q", "-m", "exp data")
    v1.git("switch", "-q", "main")  # no hooks: the workspace still holds exp's data
    v1.write("data/a.txt", b"experiment, edited\n")
    before = (v1.root / "data" / "a.txt").read_bytes()
    failed = v1.fails(1, "commit", "-a", "-m", "on main?")
    line = one_error_line(failed)
    assert f"data branch main is at {base[:12]}" in line and f"exp at {exp[:12]}" in line
    assert "`git switch -c NEW-BRANCH`" in line
    assert _branches(v1) == {"main": base, "exp": exp} and _current(v1) == "exp"
    assert (v1.root / "data" / "a.txt").read_bytes() == before
    # the fix it names
    v1.git("switch", "-q", "-c", "retry/exp")
    result = v1.ok("commit", "-a", "-m", "on its own branch")
    assert f"data branch retry/exp created from exp at {exp[:12]}" in result.out
    assert _branches(v1)["main"] == base and _branches(v1)["exp"] == exp
    assert _current(v1) == "retry/exp"


def test_detached_git_head_commits_on_a_detached_data_head(v1: GitProject) -> None:
    base = v1.head()
    v1.git("add", "-A")
    v1.git("commit", "-q", "-m", "data v1")
    v1.git("checkout", "-q", "--detach")
    v1.write("data/a.txt", b"detached\n")
    result = v1.ok("commit", "-a", "-m", "while detached")
    assert "git HEAD is detached: committing on a detached data HEAD" in result.out
    assert "[detached HEAD " in result.out
    assert _branches(v1) == {"main": base}
    assert v1.pin() == v1.head() != base


def test_follow_branches_false_keeps_the_old_behaviour(v1: GitProject) -> None:
    """Opt-out, honoured only from this clone's config (it loosens a safety)."""
    base = v1.head()
    v1.git("switch", "-q", "-c", "exp")
    v1.append_config("\n[git]\nfollow_branches = false\n")  # the committed config: ignored
    v1.write("data/a.txt", b"x\n")
    result = v1.ok("commit", "-a", "-m", "x")
    assert "ignoring git.follow_branches = false" in result.err
    assert _current(v1) == "exp"
    v1.append_config("\n[git]\nfollow_branches = false\n", local=True)
    v1.write("data/a.txt", b"y\n")
    v1.git("switch", "-q", "main")
    v1.ok("commit", "-a", "-m", "y")
    assert _current(v1) == "exp" and _branches(v1)["main"] == base


def test_the_pre_commit_hook_commits_on_the_git_branch(hooked: GitProject) -> None:
    """With commit_data = true the hook's own data commit follows git's branch too."""
    base = hooked.head()
    hooked.append_config("\n[git]\ncommit_data = true\n", local=True)
    hooked.git("switch", "-q", "-c", "exp")
    hooked.write("data/a.txt", b"edited on exp, committed by the hook\n")
    hooked.write("train.py", "print('exp')\n")
    result = hooked.git("commit", "-q", "-a", "-m", "exp code", check=False)
    assert result.code == 0, result.describe()
    assert f"data branch exp created from main at {base[:12]}" in result.err, result.err
    assert _branches(hooked) == {"main": base, "exp": hooked.pin("HEAD")}
    assert _current(hooked) == "exp"


def test_a_git_branch_nested_under_a_data_branch_is_one_line(v1: GitProject) -> None:
    """dvault has a branch git lacks (exp); git's exp/x cannot sit beside it in refs/."""
    v1.ok("branch", "exp")
    v1.git("switch", "-q", "-c", "exp/x")
    v1.write("data/a.txt", b"x\n")
    line = one_error_line(v1.fails(2, "commit", "-a", "-m", "x"))
    assert "data branch 'exp' exists" in line
    assert set(_branches(v1)) == {"main", "exp"} and _current(v1) == "main"
