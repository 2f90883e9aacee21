"""dvault redact, local side (dvault/maintenance/redact.py, dvault/store/erased.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import dvault
from dvault.errors import ObjectErased, UsageError
from dvault.repo import Repo
from dvault.store import erased

SECRET = b"name,email\nAda Lovelace,ada@example.org\n" + os.urandom(3000)


def _history(tmp_path: Path) -> Repo:
    """Three commits: people.csv added in v1, kept in v2 (another file changed), removed
    in v3; a copy of one other file's bytes lives under another name."""
    repo = Repo.init(tmp_path / "p")
    data = repo.root / "data"
    data.mkdir()
    (data / "people.csv").write_bytes(SECRET)
    (data / "other.bin").write_bytes(os.urandom(5000))
    repo.add([data])
    repo.commit("v1")
    (data / "other.bin").write_bytes(os.urandom(5000))
    repo.add([data])
    repo.commit("v2")
    repo.rm([data / "people.csv"])
    repo.commit("v3")
    return repo


def _packs_hold(repo: Repo, needle: bytes) -> bool:
    """The secret's bytes in any local pack (stored uncompressed or compressed: search
    for a slice of the random tail, which zstd cannot shrink)."""
    return any(needle in p.read_bytes() for p in (repo.dir / "packs").glob("*.pack"))


def test_redact_erases_the_bytes_and_keeps_every_other_file(tmp_path: Path) -> None:
    with _history(tmp_path) as repo:
        needle = SECRET[-200:]
        assert _packs_hold(repo, needle)
        heads = {r: repo.resolve(r) for r in ("HEAD", "HEAD~1", "HEAD~2")}
        report = repo.redact(["data/people.csv"], "GDPR request 42")
        plan, record = report.plan, report.record
        assert record is not None and len(plan.commits) == 2 and plan.objects
        assert not _packs_hold(repo, needle)
        # commit ids unchanged, every other path restores
        assert {r: repo.resolve(r) for r in heads} == heads
        for rev in ("HEAD~1", "HEAD~2"):
            with dvault.open("data/other.bin", rev, repo=repo.root) as f:
                assert len(f.read()) == 5000
            with pytest.raises(ObjectErased) as info:
                dvault.open("data/people.csv", rev, repo=repo.root)
            shown = str(info.value)
            assert shown.startswith("data/people.csv: erased on ") and "GDPR request 42" in shown
        # the record names path hashes, never the path
        raw = (repo.dir / erased.FILE).read_text()
        assert "people.csv" not in raw and erased.path_hash("data/people.csv") in raw


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    with _history(tmp_path) as repo:
        report = repo.redact(["data/people.csv"], "why", dry_run=True)
        plan, record = report.plan, report.record
        assert record is None and plan.objects
        assert _packs_hold(repo, SECRET[-200:])
        assert not (repo.dir / erased.FILE).exists()


def test_bad_input_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    with _history(tmp_path) as repo:
        with pytest.raises(UsageError):
            repo.redact(["data/people.csv"], "   ")
        with pytest.raises(UsageError, match="no kept commit"):
            repo.redact(["data/nothing.csv"], "why")
        with pytest.raises(UsageError, match="staged"):
            repo.redact(["data/other.bin"], "why")
        with pytest.raises(UsageError):
            repo.redact(["../x"], "why")
        assert not (repo.dir / erased.FILE).exists()


def test_shared_bytes_are_kept(tmp_path: Path) -> None:
    """The same bytes under another kept name are not erased (that file would break)."""
    with _history(tmp_path) as repo:
        (repo.root / "data" / "copy.csv").write_bytes(SECRET)
        repo.add([repo.root / "data"])
        repo.commit("copy")
        repo.rm([repo.root / "data" / "copy.csv"])
        repo.commit("gone again")
        plan = repo.redact(["data/people.csv"], "why").plan
        assert not plan.objects and plan.shared
        with dvault.open("data/people.csv", "HEAD~3", repo=repo.root) as f:
            assert f.read() == SECRET


def test_lineage_says_the_revision_was_altered(tmp_path: Path) -> None:
    from dvault import lineage

    with _history(tmp_path) as repo:
        repo.redact(["data/people.csv"], "GDPR\x1b[2J request 42")
        graph = lineage.build(repo, "HEAD")
        node = graph.nodes[repo.resolve("HEAD~1").hex()]
        assert node.to_json()["redactions"][0]["reason"] == "GDPR\x1b[2J request 42"
        text = lineage.to_text(graph)
        assert "altered by a redaction: erased on " in text and "\x1b" not in text
        assert not graph.nodes[repo.resolve("HEAD").hex()].redactions


def test_a_damaged_record_is_refused(tmp_path: Path) -> None:
    """.dvault/erased.json is read as hostile: anything but what add() writes is refused."""
    from dvault.errors import CorruptObject

    with _history(tmp_path) as repo:
        (repo.dir / erased.FILE).write_text('{"version": 1, "redactions": [{"time_ns": true}]}')
        with pytest.raises(CorruptObject):
            erased.load(repo.dir)


def test_dvault_fs_fails_for_the_erased_path_alone(tmp_path: Path) -> None:
    import fsspec

    import dvault.fs  # noqa: F401  (registers dvault://)

    with _history(tmp_path) as repo:
        repo.redact(["data/people.csv"], "licence withdrawn")
        fs = fsspec.filesystem("dvault", repo=str(repo.root), rev="HEAD~2")
        assert len(fs.cat_file("data/other.bin")) == 5000
        with pytest.raises(ObjectErased, match=r"^data/people.csv: erased on .*licence"):
            fs.cat_file("data/people.csv")


def test_interrupted_between_record_and_repack_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded, then stopped before the packs were rewritten: every file still reads,
    verify is clean, and running redact again finishes the erasure."""
    from dvault.maintenance import redact as local
    from dvault.verify import verify_local

    def killed(*_args: object) -> None:
        raise KeyboardInterrupt

    with _history(tmp_path) as repo:
        with monkeypatch.context() as patch:
            patch.setattr(local, "_repack_without", killed)
            with pytest.raises(KeyboardInterrupt):
                repo.redact(["data/people.csv"], "why")
        assert _packs_hold(repo, SECRET[-200:])
        with dvault.open("data/other.bin", "HEAD~2", repo=repo.root) as f:
            assert len(f.read()) == 5000
        assert verify_local(repo, None, read_data=True).ok
        repo.redact(["data/people.csv"], "why")
        assert not _packs_hold(repo, SECRET[-200:])
        report = verify_local(repo, None, read_data=True)
        assert report.ok and report.redacted


def test_rev_limits_the_redaction_to_that_history(tmp_path: Path) -> None:
    """--rev v1: the path's content in v1 and before is erased; a later version of the
    file (other bytes) still restores."""
    with _history(tmp_path) as repo:
        newer = os.urandom(4000)
        (repo.root / "data" / "people.csv").write_bytes(newer)
        repo.add([repo.root / "data"])
        repo.commit("people again")
        repo.rm([repo.root / "data" / "people.csv"])
        repo.commit("and gone")
        report = repo.redact(["data/people.csv"], "why", revs=["HEAD~3"])
        assert len(report.plan.commits) == 2
        with dvault.open("data/people.csv", "HEAD~1", repo=repo.root) as f:
            assert f.read() == newer
        with pytest.raises(ObjectErased):
            dvault.open("data/people.csv", "HEAD~3", repo=repo.root)
