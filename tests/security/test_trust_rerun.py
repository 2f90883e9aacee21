"""``rerun`` executes what a commit says (issue 17, item 3): it now shows the exact
command, directory and signature status first, runs only with --yes, a yes on a terminal
or a good signature from a trusted signer, and never in a directory (or on outputs)
outside the project.

The attacker publishes a commit made with dvault's own store writer whose ``meta.run``
is anything they like; the victim runs the real ``dvault rerun`` on it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.security._trust_helpers import assert_clean, craft, victim


def _run_record(command: list[str], cwd: str = ".", outputs: list[str] | None = None) -> dict:
    return {"run": {"command": command, "cwd": cwd, "outputs": outputs or ["out"], "exit": 0}}


def test_a_directory_or_output_outside_the_project_runs_nothing(tmp_path: Path) -> None:
    """Even with --yes: refused (exit 2, one line) before anything runs."""
    proj = victim(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (proj.root / ".git").mkdir()
    os.symlink("..", proj.root / "escape")
    cases = [
        ("..", ["out"]),
        (str(outside), ["out"]),  # absolute
        ("data/../..", ["out"]),
        ("escape", ["out"]),  # a symlink already in the work tree, leading out
        (".git", ["out"]),
        (".", ["../../etc"]),
        (".", [str(outside)]),
        (".", ["escape/x"]),
    ]
    for cwd, outputs in cases:
        command = ["sh", "-c", "touch pwned ../pwned"]
        evil = craft(proj.root, meta=_run_record(command, cwd, outputs))
        result = proj.run("rerun", "--yes", evil)
        assert result.code == 2, (cwd, outputs, result.describe())
        assert_clean(result)
        assert "not run" in result.err, result.describe()
        for where in (tmp_path, proj.root, outside, proj.root / ".git"):
            assert not (where / "pwned").exists(), (cwd, outputs, where)


def test_an_unsigned_command_is_shown_and_runs_only_with_yes(tmp_path: Path) -> None:
    """Non-interactive, unsigned, no --yes: the exact argv, directory and signature
    status are shown, nothing runs, exit 2 saying how to allow it; --yes runs it."""
    proj = victim(tmp_path)
    # rerun runs in a scratch work tree it removes afterwards: the mark goes to $HOME
    evil = craft(
        proj.root, meta=_run_record(["sh", "-c", "touch $HOME/pwned; echo '\x1b]0;t\x07'"])
    )
    refused = proj.run("rerun", evil)
    assert refused.code == 2, refused.describe()
    assert_clean(refused)
    assert not (Path(proj.env["HOME"]) / "pwned").exists()
    shown = refused.err
    assert "would run: sh -c 'touch $HOME/pwned; echo '\"'\"'\\x1b]0;t\\x07'\"'\"''" in shown
    assert "in: . (the project root)" in shown and "signature: unsigned" in shown
    assert "--yes" in shown.splitlines()[-1]
    allowed = proj.run("rerun", "--yes", evil)
    assert allowed.code == 0, allowed.describe()
    assert (Path(proj.env["HOME"]) / "pwned").exists()
    assert not (proj.root / "pwned").exists()  # it ran in the scratch, not the work tree


def test_a_trusted_signature_runs_without_yes_an_untrusted_one_does_not(tmp_path: Path) -> None:
    """Signed by a key in the trusted signers (committed to git): runs; signed by a key
    nobody trusts (what a remote writer can do): refused like an unsigned one."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    proj = victim(tmp_path, git=True)
    alice, mallory = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    public = alice.public_key().public_bytes_raw().hex()
    (proj.root / ".dvaultsigners").write_text(f"alice ed25519:{public}\n")
    subprocess.run(["git", "add", ".dvaultsigners"], cwd=proj.root, check=True, env=proj.env)
    subprocess.run(["git", "commit", "-qm", "signers"], cwd=proj.root, check=True, env=proj.env)
    good = craft(
        proj.root, meta=_run_record(["touch", str(tmp_path / "by-alice")]), sign_with=alice
    )
    result = proj.run("rerun", good)
    assert result.code == 0, result.describe()
    assert "signature: good signature by alice" in result.err
    assert (tmp_path / "by-alice").exists()
    forged = craft(
        proj.root, meta=_run_record(["touch", str(tmp_path / "by-mallory")]), sign_with=mallory
    )
    refused = proj.run("rerun", forged)
    assert refused.code == 2, refused.describe()
    assert "unknown signer" in refused.err
    assert not (tmp_path / "by-mallory").exists()


def test_a_malformed_record_is_one_error_line(tmp_path: Path) -> None:
    """A command that is not a list of strings (or holds a NUL) is refused, no traceback."""
    proj = victim(tmp_path)
    for command in (["sh", "-c", 5], "sh -c true", ["true\0false"]):
        evil = craft(proj.root, meta={"run": {"command": command, "cwd": "."}})
        result = proj.run("rerun", "--yes", evil)
        assert result.code == 2, result.describe()
        assert_clean(result)


def _on_a_terminal(proj_root: Path, env: dict[str, str], args: list[str], answer: bytes) -> int:
    """Run dvault with stdin, stdout and stderr on a pseudo-terminal, typing ``answer``."""
    import pty

    from tests.cli.helpers import dvault_command

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*dvault_command(), *args], cwd=proj_root, env=env, stdin=follower, stdout=follower,
        stderr=follower, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    try:
        while b"[y/N]" not in seen:  # the prompt comes after the command was shown
            chunk = os.read(leader, 4096)
            assert chunk, seen
            seen += chunk
        assert b"would run: touch" in seen and b"signature: unsigned" in seen, seen
        os.write(leader, answer)
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
        os.close(leader)
    return code


def test_on_a_terminal_it_asks_and_only_yes_runs(tmp_path: Path) -> None:
    """Interactive, unsigned, no --yes: the user is asked; no (or just Enter) runs
    nothing (exit 2), y runs it."""
    proj = victim(tmp_path)
    evil = craft(proj.root, meta=_run_record(["touch", str(tmp_path / "asked")]))
    assert _on_a_terminal(proj.root, proj.env, ["rerun", evil], b"\n") == 2
    assert not (tmp_path / "asked").exists()
    assert _on_a_terminal(proj.root, proj.env, ["rerun", evil], b"y\n") == 0
    assert (tmp_path / "asked").exists()


def test_hostile_input_records_run_nothing(tmp_path: Path) -> None:
    """A commit's recorded inputs are attacker input: a path outside the data (``..``,
    absolute, ``.git``), a commit that is not an id, a list that is not one, an id the
    named commit does not hold, a dirty record: refused before the command is shown or
    run, one line, nothing written anywhere."""
    proj = victim(tmp_path)
    base = craft(proj.root, branch="base")
    good = {"commit": base, "rev": "base"}
    cases: list[object] = [
        [{**good, "path": "../../etc"}],
        [{**good, "path": "/etc"}],
        [{**good, "path": ".git/hooks"}],
        [{**good, "path": "data\nforged"}],
        [{"commit": "zz", "rev": "x"}],
        [{"commit": 5}],
        "data@v1",
        [{**good, "path": "data", "id": "00" * 32}],
        [{**good, "path": "data", "clean": False}],
    ]
    mark = tmp_path / "ran"
    for inputs in cases:
        meta = {**_run_record(["touch", str(mark)]), "inputs": inputs}
        evil = craft(proj.root, meta=meta)
        result = proj.run("rerun", "--yes", evil)
        assert result.code in (1, 2), (inputs, result.describe())
        assert_clean(result)
        assert "would run" not in result.err, (inputs, result.describe())
        assert not mark.exists(), inputs


def test_a_symlink_leading_out_of_a_recorded_input_is_not_written(tmp_path: Path) -> None:
    """An input tree holding a symlink out of the work tree: refused like a checkout
    refuses it, and the scratch is removed."""
    from dvault.commitobjects import Commit
    from dvault.hashing import ObjectType
    from dvault.repo import Repo
    from dvault.treeobjects import MODE_LINK
    from tests.security._trust_helpers import raw_tree

    proj = victim(tmp_path)
    with Repo.open(proj.root) as repo, repo.store.writer() as w:
        target = b"../../../../etc/passwd"
        link = w.put_raw(ObjectType.BLOB, target)
        data = raw_tree(w, [(b"escape", MODE_LINK, len(target), link)])
        top = raw_tree(w, [(b"data", 0o040000, len(target), data)])
        meta = _run_record(["sh", "-c", f"cat data/escape > {tmp_path / 'stolen'}"])
        commit = Commit(top, (), "M <m@e>", 1, "evil", {"data": "dataset"}, meta)
        evil = w.put(commit).hex()
    result = proj.run("rerun", "--yes", evil)
    assert result.code != 0 and "refusing to write symlink" in result.err, result.describe()
    assert_clean(result)
    assert not (tmp_path / "stolen").exists()
    assert not list((proj.root / ".dvault/tmp").glob("rerun-*"))
