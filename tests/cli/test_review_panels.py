"""What the rendered review and lineage say beyond tables: branch and tag names on every
lineage format, and the signatures panel (signer, key, status, how to sign)."""

from __future__ import annotations

from pathlib import Path

from .helpers import Project, git, git_project


def test_lineage_names_branches_and_tags_in_every_format(tracked: Project) -> None:
    """An annotated tag is followed to its commit; a branch and a tag on one version are
    both named, in text, dot, JSON and the HTML page."""
    first = tracked.head()
    tracked.ok("tag", "v1", "-m", "baseline")  # an annotated tag object
    tracked.write("data/a.txt", "alpha 2\n")
    tracked.commit("second")
    tracked.ok("branch", "exp")
    tracked.ok("tag", "v2")
    graph = tracked.ok("lineage", "--json").json()
    names = {n["id"]: n["names"] for n in graph["nodes"]}
    assert names[first] == ["tag: v1"]
    assert names[tracked.head()] == ["exp", "main", "tag: v2"]
    assert {n["id"]: n["depth"] for n in graph["nodes"]} == {tracked.head(): 0, first: 1}
    text = tracked.ok("lineage").out
    assert f"{tracked.head()[:12]} (exp, main, tag: v2)  second" in text
    assert f"{first[:12]} (tag: v1)  first" in text
    dot = tracked.ok("lineage", "--format", "dot").out
    assert f'[label="{first[:12]}\\nfirst\\ntag: v1"]' in dot
    page = tracked.ok("lineage", "--format", "html").out
    assert '<span class="names">exp, main, tag: v2</span>' in page


def _pinned(tmp_path: Path, env: dict[str, str], sign: bool) -> Project:
    proj = git_project(tmp_path / "proj", env)
    proj.write("data/a.txt", "alpha\n")
    proj.ok("add", "data")
    if sign:
        proj.ok("key", "generate")
        proj.ok("commit", "-m", "v1", "--sign")
    else:
        proj.ok("commit", "-m", "v1")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "pin")
    return proj


def _signature_rows(markdown: str) -> list[str]:
    section = markdown.split("## Signatures", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ")]


def test_an_unsigned_commit_gets_the_steps_to_sign_it(tmp_path: Path, env: dict[str, str]) -> None:
    proj = _pinned(tmp_path, env, sign=False)
    report = proj.run("review").out
    commit = proj.ok("log", "-n", "1", "--json").json()[0]["id"]
    assert _signature_rows(report) == [
        "| commit | status | signer | key |",
        f"| `{commit[:12]}` | unsigned |  |  |",
    ]
    section = report.split("## Signatures", 1)[1].split("\n## ", 1)[0]
    assert "How to sign:" in section
    assert "- `dvault key generate`" in section and "--sign" in section
    assert "`dvault key export >> .dvaultsigners && git add .dvaultsigners`" in section


def test_an_unknown_then_trusted_signer(tmp_path: Path, env: dict[str, str]) -> None:
    """Signed by a key nobody trusts yet: the panel names the key and how to trust it;
    once trusted in git: the signer, the key, good, and no steps."""
    proj = _pinned(tmp_path, env, sign=True)
    fingerprint = proj.ok("key", "list", "--json").json()[0]["fingerprint"]
    report = proj.run("review").out
    (row,) = _signature_rows(report)[1:]
    assert row.endswith(f"| unknown |  | `{fingerprint}` |"), row
    assert "The key is valid but not trusted" in report and "dvault key generate" not in report
    (proj.root / ".dvaultsigners").write_text(proj.ok("key", "export").out)
    git(proj, "add", ".dvaultsigners")
    git(proj, "commit", "-qm", "trust default")
    report = proj.run("review").out
    (row,) = _signature_rows(report)[1:]
    assert row.endswith(f"| good | default | `{fingerprint}` |"), row
    assert "How to sign" not in report
