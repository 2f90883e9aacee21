"""lost+found: what checkout --force overwrote, kept until gc's grace period ends."""

from __future__ import annotations

import os

from .helpers import Project, one_error_line


def _forced(p: Project) -> str:
    """One forced checkout over an edit; returns the lost+found entry's name."""
    p.write("data/a.txt", "a1\n")
    p.ok("add", "data")
    p.commit("v1")
    p.write("data/a.txt", "a2\n")
    p.commit("v2")
    p.write("data/a.txt", "LOCAL\n")
    p.ok("checkout", "--force", "HEAD~1")
    (entry,) = os.listdir(p.root / ".dvault" / "lost+found")
    return entry


def test_gc_removes_old_entries_only(project: Project) -> None:
    """An entry older than 14 days goes (dry run first says so and removes nothing); a
    recent one stays; `[gc] lost_found_days = 0` lets it go too."""
    recent = _forced(project)
    top = project.root / ".dvault" / "lost+found"
    old = "20200101T000000Z-1"
    (top / recent).rename(top / old)
    project.write("data/a.txt", "LOCAL again\n")
    project.ok("checkout", "--force", "main")
    (recent,) = [n for n in os.listdir(top) if n != old]
    dry = project.ok("gc", "--dry-run").out
    assert f"would remove .dvault/lost+found/{old}" in dry and recent not in dry
    assert (top / old).is_dir()
    done = project.ok("gc", "--json").json()
    assert done["lost_found_removed"] == [f".dvault/lost+found/{old}"]
    assert sorted(os.listdir(top)) == [recent]
    assert "1 file(s) kept" in project.ok("status").out
    # the committed project config may not shorten the grace period: ignored, said
    with open(project.root / ".dvault" / "config", "a") as f:
        f.write("\n[gc]\nlost_found_days = 0\n")
    assert "ignoring gc.lost_found_days = 0" in project.ok("gc").err
    assert sorted(os.listdir(top)) == [recent]
    with open(project.root / ".dvault" / "config.local", "a") as f:
        f.write("\n[gc]\nlost_found_days = 0\n")
    project.ok("gc")
    assert os.listdir(top) == []
    assert "lost+found" not in project.ok("status").out


def test_bad_lost_found_days_is_refused(project: Project) -> None:
    entry = _forced(project)
    with open(project.root / ".dvault" / "config.local", "a") as f:
        f.write('\n[gc]\nlost_found_days = "soon"\n')
    assert "lost_found_days" in one_error_line(project.fails(2, "gc"))
    assert (project.root / ".dvault" / "lost+found" / entry).is_dir()


def test_a_checkout_that_overwrites_nothing_keeps_nothing(project: Project) -> None:
    """--force with no conflicting edit makes no entry."""
    project.write("data/a.txt", "a1\n")
    project.ok("add", "data")
    project.commit("v1")
    project.write("data/a.txt", "a2\n")
    project.commit("v2")
    project.ok("checkout", "--force", "HEAD~1")
    assert not (project.root / ".dvault" / "lost+found").exists()
