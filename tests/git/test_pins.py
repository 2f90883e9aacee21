"""dvault.lock: the pin dvault writes into a git work tree, read back with the real git."""

from __future__ import annotations

import tomllib

from blake3 import blake3

from .conftest import V1, GitProject

LABELS = {"cats.csv": b"img,label\n1,cat\n2,dog\n", "guide/v2.md": b"# label guide\n"}
MODEL = bytes(range(200)) * 5


def _blob_id(content: bytes) -> str:
    return blake3(b"blob %d\0" % len(content) + content).hexdigest()


def _three_roots(proj: GitProject) -> None:
    proj.write_tree(V1)
    proj.write_tree(LABELS, top="labels")
    proj.write("model.pt", MODEL)
    proj.ok("add", "model.pt", "labels", "data")  # deliberately not in sorted order
    proj.ok("commit", "-m", "v1")


def test_lock_names_commit_and_describes_every_root(gitproj: GitProject) -> None:
    """dvault.lock names the new commit and gives each root's kind, tree, size and file count."""
    _three_roots(gitproj)
    lock = tomllib.loads(gitproj.lock())
    head = gitproj.ok("log", "-n", "1", "--json").json()[0]
    assert lock["version"] == 1
    assert lock["commit"] == head["id"]
    listing = {e["name"]: e for e in gitproj.ok("show", "--json", "HEAD:").json()}
    assert lock["roots"] == {
        "data": {
            "kind": "dataset",
            "tree": listing["data"]["id"],
            "size": sum(len(c) for c in V1.values()),
            "files": len(V1),
        },
        "labels": {
            "kind": "labels",
            "tree": listing["labels"]["id"],
            "size": sum(len(c) for c in LABELS.values()),
            "files": len(LABELS),
        },
        "model.pt": {"kind": "checkpoint", "tree": _blob_id(MODEL), "size": len(MODEL), "files": 1},
    }
    assert head["roots"] == {r: v["kind"] for r, v in lock["roots"].items()}


def test_lock_text_is_stable_and_sorted(gitproj: GitProject) -> None:
    """Same data gives the same lock text: regenerated on checkout, or re-committed later."""
    _three_roots(gitproj)
    first = gitproj.lock()
    sections = [line for line in first.splitlines() if line.startswith("[roots.")]
    assert sections == ['[roots."data"]', '[roots."labels"]', '[roots."model.pt"]']
    v1_id = gitproj.pin()
    gitproj.write("data/a.txt", b"changed\n")
    gitproj.ok("commit", "-a", "-m", "v2")
    assert gitproj.lock() != first
    gitproj.ok("checkout", v1_id)
    assert gitproj.lock() == first  # byte for byte, rewritten by checkout
    gitproj.ok("checkout", "main")
    gitproj.write("data/a.txt", V1["a.txt"])  # the v1 bytes again, as a new commit
    gitproj.ok("commit", "-a", "-m", "v3")
    again = gitproj.lock()
    assert gitproj.pin() != v1_id

    def without_commit(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("commit = ")]

    assert without_commit(again) == without_commit(first)


def test_git_diff_of_lock_shows_only_changed_lines(gitproj: GitProject) -> None:
    """`git diff` between two data versions touches only commit and the changed root's lines."""
    _three_roots(gitproj)
    old = tomllib.loads(gitproj.lock())
    gitproj.git("add", "-A")
    gitproj.git("commit", "-q", "-m", "data v1")
    gitproj.write("data/sub/new.txt", b"one more file\n")
    gitproj.ok("commit", "-a", "-m", "v2")
    new = tomllib.loads(gitproj.lock())
    gitproj.git("commit", "-q", "-am", "data v2")
    diff = gitproj.git("diff", "-U0", "HEAD~1", "HEAD", "--", "dvault.lock").out
    body = [ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    removed = sorted(ln[1:] for ln in body if ln.startswith("-"))
    added = sorted(ln[1:] for ln in body if ln.startswith("+"))

    def lines(lock: dict) -> list[str]:
        data = lock["roots"]["data"]
        return sorted(
            [
                f'commit = "{lock["commit"]}"',
                f'tree = "{data["tree"]}"',
                f"size = {data['size']}",
                f"files = {data['files']}",
            ]
        )

    assert removed == lines(old), diff
    assert added == lines(new), diff
    assert new["roots"]["data"]["files"] == len(V1) + 1
    assert new["roots"]["labels"] == old["roots"]["labels"]
