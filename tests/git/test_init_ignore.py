"""What `dvault init` and `dvault add` leave for git to see."""

from __future__ import annotations

from pathlib import Path

from .conftest import V1, GitProject


def test_init_in_subdirectory_and_only_config_is_visible_to_git(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """init in a git subdirectory puts .dvault at the git root; git sees only its config."""
    proj = GitProject(tmp_path / "proj", env)
    (proj.root / "src" / "models").mkdir(parents=True)
    proj.git("init", "-q", "-b", "main")
    proj.ok("init", cwd=proj.root / "src" / "models")
    assert (proj.root / ".dvault" / "HEAD").is_file()
    assert not (proj.root / "src" / "models" / ".dvault").exists()
    proj.write_tree(V1)
    proj.write("src/models/train.py", "print(1)\n")
    proj.ok("add", "../data", cwd=proj.root / "src")  # relative to the cwd
    proj.ok("commit", "-m", "v1", cwd=proj.root / "src")
    proj.ok("remote", "add", "--init", "origin", str(tmp_path / "remote"))
    proj.ok("push", "origin")  # remotes/ state, refs, logs, packs, index all exist now
    porcelain = proj.git("status", "--porcelain", "--untracked-files=all").out.splitlines()
    paths = {line[3:] for line in porcelain}
    shown = {p for p in paths if p.startswith(".dvault/")}
    assert shown == {".dvault/config", ".dvault/.gitignore"}, porcelain
    assert not any(p.startswith("data/") for p in paths), porcelain
    assert {".gitignore", "dvault.lock", "src/models/train.py"} <= paths
    assert "/data" in (proj.root / ".gitignore").read_text().splitlines()
    assert (proj.root / "dvault.lock").is_file()
