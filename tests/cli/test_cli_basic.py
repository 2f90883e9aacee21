"""init / add / commit / status / log / show / diff through the real command line."""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path

from .helpers import Project, Run, one_error_line


def test_init_creates_repository(project: Project) -> None:
    """`dvault init` makes .dvault with a HEAD; a fresh repo reports no commits, clean."""
    assert (project.root / ".dvault" / "HEAD").is_file()
    st = project.status()
    assert st["head"] is None
    assert st["branch"] == "main"
    assert st["clean"] is True
    assert "No commits yet" in project.ok("status").out


def test_init_path_argument(run: Run, tmp_path: Path) -> None:
    """`dvault init DIR` creates the repository in DIR, creating DIR if needed."""
    result = run("init", "new/project")
    assert result.code == 0, result.describe()
    assert (tmp_path / "new" / "project" / ".dvault" / "HEAD").is_file()


def test_add_commit_show_roundtrip(project: Project) -> None:
    """add stages files, commit records them, show lists the commit's changes."""
    project.write("data/x.bin", b"\x00\x01\x02")
    project.write("data/y/z.txt", "zed\n")
    add = project.ok("add", "data")
    assert "2 new" in add.out
    st = project.status()
    assert sorted((s["path"], s["status"]) for s in st["staged"]) == [
        ("data/x.bin", "added"),
        ("data/y/z.txt", "added"),
    ]
    assert st["clean"] is False
    commit = project.ok("commit", "-m", "first data")
    assert "first data" in commit.out
    cid = project.head()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    assert cid[:12] in commit.out
    shown = project.ok("show", "--json").json()
    assert shown["id"] == cid
    assert shown["message"] == "first data"
    assert shown["author"] == "Test <t@example.com>"
    assert shown["parents"] == []
    assert shown["roots"] == {"data": "dataset"}
    assert sorted(c["path"] for c in shown["changes"]) == ["data/x.bin", "data/y/z.txt"]
    text = project.ok("show", "HEAD").out
    assert f"commit {cid}" in text
    assert "first data" in text
    assert "data/y/z.txt" in text
    assert project.status()["clean"] is True


def test_status_json_structure(tracked: Project) -> None:
    """`status --json` has branch, head, clean and the four path lists with stable types."""
    st = tracked.status()
    assert set(st) >= {"branch", "head", "clean", "staged", "modified", "deleted", "untracked"}
    assert st["branch"] == "main"
    assert st["head"] == tracked.head()
    assert st["clean"] is True
    for key in ("staged", "modified", "deleted", "untracked"):
        assert st[key] == []


def test_status_exit_code(tracked: Project) -> None:
    """`status --exit-code` exits 0 when clean and 1 when anything is uncommitted."""
    assert tracked.run("status", "--exit-code").code == 0
    tracked.write("data/a.txt", "changed\n")
    dirty = tracked.run("status", "--exit-code")
    assert dirty.code == 1, dirty.describe()
    assert "data/a.txt" in dirty.out
    assert tracked.run("status", "--exit-code", "--json").code == 1
    assert tracked.run("status").code == 0  # without --exit-code, dirty is not an error


def test_status_lists_each_kind_of_change(tracked: Project) -> None:
    """After edits, status puts each path in the right list: staged/modified/deleted/new."""
    tracked.write("data/a.txt", "alpha, edited\n")
    (tracked.root / "data" / "b.txt").unlink()
    tracked.write("data/sub/new.txt", "new file\n")
    tracked.write("data/staged.txt", "staged\n")
    tracked.ok("add", "data/staged.txt")
    tracked.write("data/sub/c.txt", "charlie staged\n")
    tracked.ok("add", "data/sub/c.txt")
    st = tracked.status()
    assert st["modified"] == ["data/a.txt"]
    assert st["deleted"] == ["data/b.txt"]
    assert st["untracked"] == ["data/sub/new.txt"]
    assert sorted((s["path"], s["status"]) for s in st["staged"]) == [
        ("data/staged.txt", "added"),
        ("data/sub/c.txt", "modified"),
    ]
    assert st["clean"] is False
    text = tracked.ok("status").out
    assert "Changes to be committed" in text
    assert "modified: data/a.txt" in re.sub(r" +", " ", text)
    assert "deleted: data/b.txt" in re.sub(r" +", " ", text)
    assert "data/sub/new.txt" in text


def test_status_ignores_files_outside_tracked_roots(tracked: Project) -> None:
    """Files outside tracked roots (e.g. code) are not reported as untracked noise."""
    tracked.write("train.py", "print('hi')\n")
    tracked.write("other/x.txt", "x\n")
    assert tracked.status()["clean"] is True


def test_commit_all_stages_new_modified_deleted(tracked: Project) -> None:
    """`commit -a` records new, modified and deleted files under tracked roots."""
    first = tracked.head()
    tracked.write("data/a.txt", "alpha v2\n")
    (tracked.root / "data" / "b.txt").unlink()
    tracked.write("data/sub/deep/d.txt", "delta\n")
    second = tracked.commit("second")
    assert second != first
    shown = tracked.ok("show", "--json").json()
    assert shown["parents"] == [first]
    changes = {c["path"]: c["status"] for c in shown["changes"]}
    assert changes == {
        "data/a.txt": "modified",
        "data/b.txt": "deleted",
        "data/sub/deep/d.txt": "added",
    }
    assert tracked.run("status", "--exit-code").code == 0
    assert tracked.ok("show", "HEAD:data/a.txt").out == "alpha v2\n"


def test_commit_meta_recorded(tracked: Project) -> None:
    """`--meta K=V` lineage metadata is stored in the commit and shown by log --json."""
    tracked.write("data/a.txt", "meta\n")
    tracked.ok("commit", "-a", "-m", "with meta", "--meta", "labeler=alice", "--meta", "lr=0.1")
    meta = tracked.log()[0]["meta"]
    assert meta["labeler"] == "alice"
    assert meta["lr"] == "0.1"


def test_dvaultignore_excludes_files(project: Project) -> None:
    """Paths matching .dvaultignore (gitignore syntax) are neither reported nor committed."""
    project.write(".dvaultignore", "*.tmp\ncache/\n!keep.tmp\n")
    project.write("data/a.txt", "a\n")
    project.write("data/scratch.tmp", "junk\n")
    project.write("data/keep.tmp", "kept\n")
    project.write("data/cache/blob.bin", b"cache")
    project.write("data/sub/cache/x", b"cache too")
    project.ok("add", "data")
    project.ok("commit", "-m", "one")
    listing = project.ok("show", "HEAD:data").out
    assert "a.txt" in listing
    assert "keep.tmp" in listing
    assert "scratch.tmp" not in listing
    assert "cache" not in listing
    sub = project.run("show", "HEAD:data/sub")
    assert sub.code != 0 or "cache" not in sub.out
    project.write("data/more.tmp", "junk\n")
    project.write("data/cache/more.bin", b"more")
    assert project.status()["clean"] is True
    project.write("data/new.txt", "n\n")
    assert project.status()["untracked"] == ["data/new.txt"]


def test_log_oneline_graph(tracked: Project) -> None:
    """`log --oneline --graph` prints one `* id (refs) message` line per commit, newest first."""
    tracked.write("data/a.txt", "2\n")
    tracked.commit("second")
    tracked.write("data/a.txt", "3\n")
    third = tracked.commit("third")
    lines = tracked.ok("log", "--oneline", "--graph").out.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("* ") for line in lines)
    assert lines[0].startswith(f"* {third[:12]}")
    assert "HEAD -> main" in lines[0]
    assert [line.rsplit(" ", 1)[-1] for line in lines] == ["third", "second", "first"]
    plain = tracked.ok("log", "--oneline").out.splitlines()
    assert plain[0].startswith(third[:12])
    full = tracked.ok("log").out
    assert f"commit {third}" in full
    assert "Author: Test <t@example.com>" in full


def test_log_json(tracked: Project) -> None:
    """`log --json` lists commits newest first with ids, parents, author, message, refs."""
    first = tracked.head()
    tracked.write("data/a.txt", "2\n")
    second = tracked.commit("second")
    entries = tracked.log()
    assert [e["id"] for e in entries] == [second, first]
    assert entries[0]["parents"] == [first]
    assert entries[1]["parents"] == []
    assert entries[0]["message"] == "second"
    assert entries[0]["author"] == "Test <t@example.com>"
    assert "HEAD -> main" in entries[0]["refs"]
    assert isinstance(entries[0]["time_ns"], int)
    assert tracked.log("-n", "1") == entries[:1]


def test_log_path_filter(tracked: Project) -> None:
    """`log -- PATH` lists only commits that changed PATH."""
    c1 = tracked.head()
    tracked.write("data/a.txt", "a2\n")
    c2 = tracked.commit("touch a")
    tracked.write("data/b.txt", "b2\n")
    c3 = tracked.commit("touch b")
    tracked.write("data/sub/c.txt", "c2\n")
    c4 = tracked.commit("touch c")
    assert [e["id"] for e in tracked.log("--", "data/a.txt")] == [c2, c1]
    assert [e["id"] for e in tracked.log("--", "data/b.txt")] == [c3, c1]
    assert [e["id"] for e in tracked.log("--", "data/sub")] == [c4, c1]
    assert [e["id"] for e in tracked.log("--", "data")] == [c4, c3, c2, c1]
    lines = tracked.ok("log", "--oneline", "--", "data/b.txt").out.splitlines()
    assert len(lines) == 2
    # a path given relative to a subdirectory
    sub = tracked.ok("log", "--json", "--", "c.txt", cwd=tracked.root / "data" / "sub").json()
    assert [e["id"] for e in sub] == [c4, c1]


def test_show_rev_path_prints_exact_bytes(project: Project) -> None:
    """`show REV:PATH` writes the file's exact bytes (binary-safe) to stdout."""
    small = bytes(range(256)) * 4 + b"\r\n\x00\xff"
    big = random.Random(7).randbytes(3 << 20)  # chunked content, reassembled
    project.write("data/small.bin", small)
    project.write("data/big.bin", big)
    project.write("data/empty", b"")
    project.ok("add", "data")
    project.ok("commit", "-m", "bin")
    project.write("data/small.bin", b"changed")
    project.commit("changed")
    assert project.ok("show", "HEAD~1:data/small.bin").raw == small
    assert project.ok("show", "HEAD:data/small.bin").raw == b"changed"
    assert project.ok("show", "HEAD:data/big.bin").raw == big
    assert project.ok("show", "HEAD:data/empty").raw == b""


def test_show_rev_dir_lists_entries(tracked: Project) -> None:
    """`show REV:DIR` lists the folder's entries (files and subfolders) and --json has ids."""
    text = tracked.ok("show", "HEAD:data").out
    names = [line.split()[-1] for line in text.splitlines()]
    assert names == ["a.txt", "b.txt", "sub/"]
    entries = tracked.ok("show", "--json", "HEAD:data").json()
    assert [e["name"] for e in entries] == ["a.txt", "b.txt", "sub"]
    assert entries[0]["size"] == len("alpha\n")
    assert entries[2]["mode"] == "40000"
    assert tracked.ok("show", "HEAD:data/sub").out.split()[-1] == "c.txt"


def test_diff_between_revisions_stat_and_json(tracked: Project) -> None:
    """`diff REV REV --stat/--json` lists added, modified and deleted paths with sizes."""
    tracked.ok("tag", "v1")
    tracked.write("data/a.txt", "alpha, longer now\n")
    (tracked.root / "data" / "b.txt").unlink()
    tracked.write("data/new.txt", "n\n")
    tracked.commit("second")
    tracked.ok("tag", "v2")
    stat = tracked.ok("diff", "v1", "v2", "--stat").out
    lines = stat.splitlines()
    assert any(re.match(r"M\s+data/a\.txt", line) for line in lines), stat
    assert any(re.match(r"D\s+data/b\.txt", line) for line in lines), stat
    assert any(re.match(r"A\s+data/new\.txt", line) for line in lines), stat
    assert "3 paths changed: 1 added, 1 modified, 1 deleted" in stat
    changes = {c["path"]: c for c in tracked.ok("diff", "v1", "v2", "--json").json()}
    assert set(changes) == {"data/a.txt", "data/b.txt", "data/new.txt"}
    assert changes["data/a.txt"]["status"] == "modified"
    assert changes["data/a.txt"]["old"]["size"] == len("alpha\n")
    assert changes["data/a.txt"]["new"]["size"] == len("alpha, longer now\n")
    assert changes["data/b.txt"]["new"] is None
    assert changes["data/new.txt"]["old"] is None
    # no difference between a revision and itself
    assert tracked.ok("diff", "v2", "v2", "--json").json() == []
    # restricted to a path
    only = tracked.ok("diff", "v1", "v2", "--json", "--", "data/a.txt").json()
    assert [c["path"] for c in only] == ["data/a.txt"]


def test_diff_without_revisions_shows_workspace_changes(tracked: Project) -> None:
    """`dvault diff` with no revisions compares HEAD with the workspace (incl. new files)."""
    assert tracked.ok("diff").out.strip() == ""
    tracked.write("data/a.txt", "edited\n")
    os.unlink(tracked.root / "data" / "b.txt")
    tracked.write("data/sub/new.txt", "new\n")
    changes = {c["path"]: c["status"] for c in tracked.ok("diff", "--json").json()}
    assert changes == {
        "data/a.txt": "modified",
        "data/b.txt": "deleted",
        "data/sub/new.txt": "added",
    }
    text = tracked.ok("diff").out
    assert re.search(r"^M\s+data/a\.txt$", text, re.M), text


def test_rm_cached_and_rm(tracked: Project) -> None:
    """`rm --cached` stops tracking but keeps the file; `rm` also deletes it."""
    tracked.ok("rm", "--cached", "data/a.txt")
    assert (tracked.root / "data" / "a.txt").exists()
    staged = {s["path"]: s["status"] for s in tracked.status()["staged"]}
    assert staged == {"data/a.txt": "deleted"}
    tracked.ok("rm", "data/b.txt")
    assert not (tracked.root / "data" / "b.txt").exists()
    tracked.ok("commit", "-m", "drop a and b")
    listing = tracked.ok("show", "HEAD:data").out
    assert "a.txt" not in listing
    assert "b.txt" not in listing
    one_error_line(tracked.fails(2, "rm", "nothing/here"))


def test_chdir_option(tracked: Project, tmp_path: Path) -> None:
    """`dvault -C DIR` runs as if started in DIR."""
    result = tracked.ok("-C", str(tracked.root), "status", "--json", cwd=tmp_path)
    assert result.json()["head"] == tracked.head()
    assert tracked.ok("-C", "data", "show", "HEAD:data/a.txt").out == "alpha\n"


def test_status_sees_same_size_edit_with_restored_mtime(project: Project) -> None:
    """An edit that keeps size and mtime (rsync -t, tar) is still detected (ctime/inode)."""
    path = project.write("data/a.bin", b"aaaa")
    time.sleep(0.15)  # past the racy window, so status trusts its stat cache
    project.ok("add", "data")
    project.ok("commit", "-m", "one")
    assert project.status()["clean"] is True
    before = path.stat()
    with open(path, "r+b") as f:
        f.write(b"bbbb")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert project.status()["modified"] == ["data/a.bin"]
    project.commit("two")
    assert project.ok("show", "HEAD:data/a.bin").raw == b"bbbb"
