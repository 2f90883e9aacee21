"""The small ones of issue 17, item 14: the hook script quotes the interpreter's path;
``--kdf-cost`` below 16 is refused for real key slots; secrets on a recorded command line
never reach a commit (and so never a remote), and ``rerun`` refuses a redacted command."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.security._trust_helpers import assert_clean, victim


def test_the_hook_runs_an_interpreter_whose_path_needs_quoting(tmp_path: Path) -> None:
    """A virtual environment under a path with a space and ``$(...)`` (a real venv, as
    ``python -m venv`` makes it): the git hook runs that interpreter and nothing else."""
    proj = victim(tmp_path, git=True)
    venv = tmp_path / "py env $(touch pwned-by-hook)"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_paths()["purelib"])  # where this dvault is installed
    inner = next((venv / "lib").glob("python3*/site-packages"))
    (inner / "outer.pth").write_text(f"import site; site.addsitedir({str(site)!r})\n")
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "dvault", "hooks", "install"],
        cwd=proj.root,
        env=proj.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    git = ["git", "-C", str(proj.root)]
    subprocess.run([*git, "add", "-A"], check=True, env=proj.env)
    done = subprocess.run(
        [*git, "commit", "-qm", "code"], env=proj.env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "dvault: pre-commit: data matches dvault.lock" in done.stderr
    assert not list(tmp_path.rglob("pwned-by-hook")), "the shell ran what the path said"


def test_kdf_cost_below_16_is_refused_for_key_slots(tmp_path: Path) -> None:
    """``remote add --encrypt --kdf-cost 14`` and ``passphrase add --kdf-cost 15`` are
    usage errors that write nothing; 16 works."""
    proj = victim(tmp_path)
    env = {"DVAULT_PASSPHRASE": "correct horse battery", "DVAULT_NEW_PASSPHRASE": "another one!"}
    remote = tmp_path / "remote"
    config = (proj.root / ".dvault" / "config").read_bytes()
    for cost in ("14", "15"):
        args = ("remote", "add", "--init", "vault", str(remote), "--encrypt", "--kdf-cost", cost)
        result = proj.run(*args, env=env)
        assert result.code == 2, result.describe()
        assert "--kdf-cost must be between 16 and 20" in result.err
        assert not remote.exists() or not any(remote.rglob("*"))
        assert (proj.root / ".dvault" / "config").read_bytes() == config
    proj.ok(
        "remote", "add", "--init", "vault", str(remote), "--encrypt", "--kdf-cost", "16", env=env
    )
    slots = sorted((remote / "keys").iterdir())
    added = proj.run("remote", "passphrase", "add", "vault", "--kdf-cost", "15", env=env)
    assert added.code == 2, added.describe()
    assert sorted((remote / "keys").iterdir()) == slots
    slot = json.loads(slots[0].read_text())
    assert slot["kdf"]["log_n"] == 16


SECRETS = ("hunter2", "ghp_" + "a1B2" * 9, "s3cr3t-aws-key", "tok-123", "pa55")


def test_secrets_on_a_run_command_line_never_reach_the_remote(tmp_path: Path) -> None:
    """``dvault run -- CMD --password X ...``: the commit (its run record, its dvault
    command line and its default message) holds ``<redacted>`` instead; a clone of the
    remote finds none of the secrets; ``rerun`` refuses the redacted command (exit 2)
    rather than run it with a placeholder."""
    proj = victim(tmp_path)
    remote = tmp_path / "remote"
    proj.ok("remote", "add", "--init", "origin", str(remote))
    script = "mkdir -p out && echo result > out/r.txt"
    proj.ok(
        "run",
        "-o",
        "out",
        "--",
        "sh",
        "-c",
        f"AWS_SECRET_ACCESS_KEY={SECRETS[2]} {script}",
        "sh",
        "--password",
        SECRETS[0],
        SECRETS[1],
        f"--api-key={SECRETS[3]}",
        f"https://bob:{SECRETS[4]}@example.com/data",
    )
    proj.ok("push")
    clone = tmp_path / "clone"
    proj.ok("clone", str(remote), str(clone))
    shown = proj.ok("show", "--json", "HEAD", cwd=clone)  # message, meta.command, meta.run
    for secret in SECRETS:
        assert secret not in shown.out, (secret, shown.out)
    run = shown.json()["meta"]["run"]["command"]
    assert run[:2] == ["sh", "-c"] and "--password" in run and "<redacted>" in run
    assert (clone / "out" / "r.txt").read_text() == "result\n"
    rerun = proj.run("rerun", "--yes", "HEAD", cwd=clone)
    assert rerun.code == 2, rerun.describe()
    assert_clean(rerun)
    assert "secrets redacted" in rerun.err
