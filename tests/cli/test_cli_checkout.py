"""checkout: exact round-trips of whole trees, partial restores, and never losing work."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .helpers import Project, one_error_line, sha256

UNICODE = "données/日本語 ü.json"


def _make_v1(p: Project) -> None:
    """A tree with every kind of entry dvault keeps."""
    p.write("data/keep.bin", os.urandom(4096))
    p.write("data/empty.txt", b"")
    (p.root / "data" / "empty_dir").mkdir(parents=True)
    (p.root / "data" / "nested" / "empty_too").mkdir(parents=True)
    p.write(f"data/{UNICODE}", '{"label": "chat"}\n')
    p.write("data/tools/run.sh", "#!/bin/sh\necho hi\n", mode=0o755)
    p.write("data/labels/a.json", '{"a": 1}\n')
    p.write("data/only_v1.txt", "gone in v2\n")
    os.symlink("../labels/a.json", p.root / "data" / "tools" / "link.json")
    os.symlink("labels", p.root / "data" / "labels_link")


def _make_v2(p: Project) -> None:
    """Edits on top of v1: changed, deleted, new, mode change, retargeted link."""
    p.write("data/labels/a.json", '{"a": 2}\n')
    (p.root / "data" / "only_v1.txt").unlink()
    shutil.rmtree(p.root / "data" / "empty_dir")
    p.write("data/new/only_v2.bin", os.urandom(1000))
    (p.root / "data" / "tools" / "run.sh").chmod(0o644)
    os.unlink(p.root / "data" / "tools" / "link.json")
    os.symlink("../keep.bin", p.root / "data" / "tools" / "link.json")
    p.write(f"data/{UNICODE}", '{"label": "chien"}\n')


def _two_versions(p: Project) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    _make_v1(p)
    p.ok("add", "data")
    p.ok("commit", "-m", "v1")
    p.ok("tag", "v1")
    v1 = p.snapshot()
    _make_v2(p)
    p.commit("v2")
    p.ok("tag", "v2")
    v2 = p.snapshot()
    return v1, v2


def test_checkout_roundtrip_exact_trees(project: Project) -> None:
    """v1 -> v2 -> v1 restores every byte, empty file/dir, unicode name, exec bit, symlink."""
    v1, v2 = _two_versions(project)
    assert v1 != v2
    assert v1[UNICODE][0] == "file"
    assert v1["empty_dir"] == ("dir",)
    assert v1["nested/empty_too"] == ("dir",)
    assert v1["tools/run.sh"][1] == "x"
    assert v1["tools/link.json"] == ("link", "../labels/a.json")
    project.ok("checkout", "v1")
    assert project.snapshot() == v1
    assert not (project.root / "data" / "new").exists()  # v2-only folder removed
    assert (project.root / "data" / "tools" / "link.json").is_symlink()
    assert (project.root / "data" / "labels_link").is_symlink()
    assert (project.root / "data" / "tools" / "link.json").read_text() == '{"a": 1}\n'
    assert project.status()["clean"] is True
    project.ok("checkout", "v2")
    assert project.snapshot() == v2
    assert not (project.root / "data" / "only_v1.txt").exists()
    assert not (project.root / "data" / "empty_dir").exists()
    project.ok("checkout", "v1")
    assert project.snapshot() == v1
    assert project.status()["clean"] is True
    # unicode paths work as arguments too
    assert project.ok("show", f"v2:data/{UNICODE}").out == '{"label": "chien"}\n'
    assert len(project.log("v2", "--", f"data/{UNICODE}")) == 2
    assert "日本語 ü.json" in project.ok("show", "v1:data/données").out


def test_checkout_rewrites_only_changed_files(project: Project) -> None:
    """An unchanged file keeps its inode and mtime across checkouts (only changes are written)."""
    _two_versions(project)
    keep = project.root / "data" / "keep.bin"
    changed = project.root / "data" / "labels" / "a.json"
    before = keep.stat()
    changed_before = changed.stat()
    result = project.ok("checkout", "v1")
    after = keep.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert changed.stat().st_ino != changed_before.st_ino or (
        changed.stat().st_mtime_ns != changed_before.st_mtime_ns
    )
    assert "written" in result.out


def test_checkout_restores_exact_bytes_of_many_files(project: Project) -> None:
    """Checksums of every file match after restoring an older version over a newer one."""
    for i in range(30):
        project.write(f"data/f{i:02}.bin", os.urandom(100 + i * 37))
    project.ok("add", "data")
    project.ok("commit", "-m", "v1")
    v1 = {p.name: sha256(p) for p in (project.root / "data").iterdir()}
    for i in range(0, 30, 3):
        project.write(f"data/f{i:02}.bin", os.urandom(50))
    for i in range(1, 30, 7):
        (project.root / "data" / f"f{i:02}.bin").unlink()
    project.write("data/extra.bin", b"extra")
    project.commit("v2")
    project.ok("checkout", "HEAD~1")
    assert {p.name: sha256(p) for p in (project.root / "data").iterdir()} == v1


def test_checkout_path_restores_only_that_path(project: Project) -> None:
    """`checkout REV -- PATH` restores PATH from REV, leaves other files and HEAD alone."""
    _two_versions(project)
    head = project.head()
    v2_keep = sha256(project.root / "data" / "keep.bin")
    v2_new = project.root / "data" / "new" / "only_v2.bin"
    project.ok("checkout", "v1", "--", "data/labels/a.json", "data/only_v1.txt")
    assert (project.root / "data" / "labels" / "a.json").read_text() == '{"a": 1}\n'
    assert (project.root / "data" / "only_v1.txt").read_text() == "gone in v2\n"
    assert v2_new.exists()
    assert sha256(project.root / "data" / "keep.bin") == v2_keep
    assert (project.root / "data" / UNICODE).read_text() == '{"label": "chien"}\n'
    st = project.status()
    assert st["head"] == head
    assert st["branch"] == "main"
    assert project.head() == head


def test_checkout_head_path_restores_deleted_folder(tracked: Project) -> None:
    """`checkout HEAD -- DIR` brings back a folder deleted from the workspace (git's restore)."""
    expected = tracked.snapshot()
    shutil.rmtree(tracked.root / "data" / "sub")
    (tracked.root / "data" / "a.txt").unlink()
    tracked.ok("checkout", "HEAD", "--", "data/sub")
    assert (tracked.root / "data" / "sub" / "c.txt").read_text() == "charlie\n"
    assert not (tracked.root / "data" / "a.txt").exists()
    tracked.ok("checkout", "HEAD", "--", "data")
    assert tracked.snapshot() == expected
    assert tracked.status()["clean"] is True


def test_checkout_force_head_path_discards_local_edit(tracked: Project) -> None:
    """`checkout -f HEAD -- FILE` throws away a local edit and restores the committed bytes."""
    tracked.write("data/a.txt", "local edit\n")
    refused = tracked.run("checkout", "HEAD", "--", "data/a.txt")
    assert refused.code == 1, refused.describe()
    assert (tracked.root / "data" / "a.txt").read_text() == "local edit\n"
    tracked.ok("checkout", "-f", "HEAD", "--", "data/a.txt")
    assert (tracked.root / "data" / "a.txt").read_text() == "alpha\n"
    assert tracked.status()["clean"] is True


def test_checkout_force_overwrites_only_what_the_switch_writes(tracked: Project) -> None:
    """`checkout --force REV` writes what the switch must write, keeping a copy of each
    uncommitted file it overwrites; an unrelated edit or deletion is carried, as without
    --force (git's `checkout -f` discards it: dvault never loses work for a flag)."""
    tracked.write("data/a.txt", "local edit\n")
    (tracked.root / "data" / "b.txt").unlink()
    tracked.ok("checkout", "--force", "main")
    assert (tracked.root / "data" / "a.txt").read_text() == "local edit\n"
    assert not (tracked.root / "data" / "b.txt").exists()
    assert not (tracked.root / ".dvault" / "lost+found").exists()
    status = tracked.status()
    assert status["modified"] == ["data/a.txt"] and status["deleted"] == ["data/b.txt"]


def test_checkout_path_relative_to_subdirectory(tracked: Project) -> None:
    """Paths after `--` are relative to the directory dvault runs in."""
    tracked.write("data/sub/c.txt", "edited\n")
    tracked.commit("edit c")
    tracked.ok("checkout", "HEAD~1", "--", "c.txt", cwd=tracked.root / "data" / "sub")
    assert (tracked.root / "data" / "sub" / "c.txt").read_text() == "charlie\n"


def _assert_refused(p: Project, paths: list[str], *args: str) -> str:
    result = p.run("checkout", *args)
    assert result.code == 1, result.describe()
    assert "Traceback" not in result.err
    for path in paths:
        assert path in result.err, result.describe()
    return result.err


def test_checkout_refuses_to_overwrite_modified_file(tracked: Project) -> None:
    """A locally modified file the checkout would change is refused (exit 1), untouched."""
    tracked.write("data/a.txt", "v2\n")
    tracked.commit("v2")
    head = tracked.head()
    tracked.write("data/a.txt", "precious local edit\n")
    before = tracked.snapshot()
    _assert_refused(tracked, ["data/a.txt"], "HEAD~1")
    assert tracked.snapshot() == before
    assert tracked.head() == head
    assert tracked.status()["modified"] == ["data/a.txt"]


def test_checkout_refuses_to_lose_staged_change(tracked: Project) -> None:
    """A staged but uncommitted change is refused too (exit 1), stage and file untouched."""
    tracked.write("data/b.txt", "v2\n")
    tracked.commit("v2")
    tracked.write("data/b.txt", "staged edit\n")
    tracked.ok("add", "data/b.txt")
    before = tracked.snapshot()
    _assert_refused(tracked, ["data/b.txt"], "HEAD~1")
    assert tracked.snapshot() == before
    staged = tracked.status()["staged"]
    assert [(s["path"], s["status"]) for s in staged] == [("data/b.txt", "modified")]


def test_checkout_refuses_untracked_file_in_the_way(tracked: Project) -> None:
    """An untracked file where the target has a file is refused, not overwritten."""
    (tracked.root / "data" / "b.txt").unlink()
    tracked.commit("drop b")
    tracked.write("data/b.txt", "my own new b\n")
    _assert_refused(tracked, ["data/b.txt"], "HEAD~1")
    assert (tracked.root / "data" / "b.txt").read_text() == "my own new b\n"


def test_checkout_refusal_lists_all_paths_and_force_overwrites(tracked: Project) -> None:
    """The refusal names every conflicting path; `--force` then overwrites them."""
    tracked.write("data/a.txt", "a2\n")
    tracked.write("data/sub/c.txt", "c2\n")
    tracked.commit("v2")
    tracked.write("data/a.txt", "local a\n")
    tracked.write("data/sub/c.txt", "local c\n")
    err = _assert_refused(tracked, ["data/a.txt", "data/sub/c.txt"], "HEAD~1")
    assert "--force" in err
    tracked.ok("checkout", "--force", "HEAD~1")
    assert (tracked.root / "data" / "a.txt").read_text() == "alpha\n"
    assert (tracked.root / "data" / "sub" / "c.txt").read_text() == "charlie\n"
    assert tracked.status()["clean"] is True


def test_checkout_path_refuses_modified_file_unless_forced(tracked: Project) -> None:
    """`checkout REV -- PATH` over a locally modified PATH is refused; -f restores it."""
    tracked.write("data/a.txt", "a2\n")
    tracked.commit("v2")
    tracked.write("data/a.txt", "local\n")
    _assert_refused(tracked, ["data/a.txt"], "HEAD~1", "--", "data/a.txt")
    assert (tracked.root / "data" / "a.txt").read_text() == "local\n"
    tracked.ok("checkout", "-f", "HEAD~1", "--", "data/a.txt")
    assert (tracked.root / "data" / "a.txt").read_text() == "alpha\n"


def test_checkout_refuses_symlink_escaping_work_tree(tracked: Project, tmp_path: Path) -> None:
    """A tree whose symlink points outside the work tree is never materialised."""
    secret = tmp_path / "secret.txt"
    secret.write_text("outside\n")
    os.symlink("../../secret.txt", tracked.root / "data" / "escape")
    add = tracked.run("add", "data/escape")
    if add.code != 0:  # refusing the link already at add time is fine too
        one_error_line(add)
        return
    tracked.ok("commit", "-m", "evil link")
    tracked.ok("tag", "evil")
    tracked.ok("checkout", "HEAD~1")
    assert not os.path.lexists(tracked.root / "data" / "escape")
    head = tracked.head()
    result = tracked.run("checkout", "evil")
    assert result.code != 0, result.describe()
    assert "outside" in one_error_line(result)
    assert not os.path.lexists(tracked.root / "data" / "escape")
    assert tracked.head() == head
    forced = tracked.run("checkout", "--force", "evil")
    assert forced.code != 0, forced.describe()
    assert not os.path.lexists(tracked.root / "data" / "escape")


def test_checkout_carries_unrelated_local_changes(tracked: Project) -> None:
    """Local edits and new files the checkout does not touch survive it unchanged."""
    tracked.write("data/a.txt", "a2\n")
    tracked.commit("v2")
    tracked.write("data/b.txt", "local edit of b\n")
    tracked.write("data/sub/untracked.txt", "mine\n")
    tracked.ok("checkout", "HEAD~1")
    assert (tracked.root / "data" / "a.txt").read_text() == "alpha\n"
    assert (tracked.root / "data" / "b.txt").read_text() == "local edit of b\n"
    assert (tracked.root / "data" / "sub" / "untracked.txt").read_text() == "mine\n"
    st = tracked.status()
    assert st["modified"] == ["data/b.txt"]
    assert st["untracked"] == ["data/sub/untracked.txt"]


def test_checkout_file_becomes_directory_and_back(tracked: Project) -> None:
    """A path that is a file in one version and a folder in another switches both ways."""
    v1 = tracked.snapshot()
    (tracked.root / "data" / "a.txt").unlink()
    tracked.write("data/a.txt/inner.txt", "now a folder\n")
    shutil.rmtree(tracked.root / "data" / "sub")
    tracked.write("data/sub", "now a file\n")
    tracked.commit("swap")
    v2 = tracked.snapshot()
    tracked.ok("checkout", "HEAD~1")
    assert tracked.snapshot() == v1
    tracked.ok("checkout", "main")
    assert tracked.snapshot() == v2
    assert tracked.status()["clean"] is True


def test_mode_only_change_is_versioned(tracked: Project) -> None:
    """Making a file executable is a change: status sees it, commit -a and checkout keep it."""
    script = tracked.root / "data" / "b.txt"
    script.chmod(0o755)
    assert tracked.status()["modified"] == ["data/b.txt"]
    tracked.commit("chmod +x")
    tracked.ok("checkout", "HEAD~1")
    assert not script.stat().st_mode & 0o111
    tracked.ok("checkout", "main")
    assert script.stat().st_mode & 0o100
