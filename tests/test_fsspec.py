"""``dvault://``: pandas and pyarrow read a CSV and a parquet file at two revisions, from the
local repository, a directory remote and an S3 remote, through the fsspec entry point."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pandas as pd
import pyarrow.parquet as pq
import pytest

import dvault
from dvault.fs import DvaultFileSystem
from tests.remote.conftest import AWS_ENV, moto_server, new_bucket, s3_client  # noqa: F401
from tests.versions import Versions, build


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Versions:
    return build(tmp_path_factory.mktemp("versions"))


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Remote caches under the test's directory; every filesystem closed afterwards
    (fsspec keeps instances, which would keep their repositories open)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield
    for fs in list(DvaultFileSystem._cache.values()):
        fs.close()
    DvaultFileSystem.clear_instance_cache()


def csv(versions: Versions, rev: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(versions.files[rev]["data/labels.csv"]))


def table(versions: Versions, rev: str) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(versions.files[rev]["data/table.parquet"])).to_pandas()


def test_registered_through_the_entry_point() -> None:
    from importlib.metadata import entry_points

    (spec,) = [e for e in entry_points(group="fsspec.specs") if e.name == "dvault"]
    assert spec.value == "dvault.fs:DvaultFileSystem"
    assert fsspec.get_filesystem_class("dvault") is DvaultFileSystem


@pytest.mark.parametrize("kind", ["local", "dir-remote"])
def test_pandas_and_pyarrow_read_two_revisions(versions: Versions, kind: str) -> None:
    where = {"repo": str(versions.root)} if kind == "local" else {"remote": str(versions.remote)}
    for rev in ("v1", "v2"):
        options = {**where, "rev": rev}
        got = pd.read_csv("dvault://data/labels.csv", storage_options=options)
        pd.testing.assert_frame_equal(got, csv(versions, rev))
        got = pd.read_parquet("dvault://data/table.parquet", storage_options=options)
        pd.testing.assert_frame_equal(got, table(versions, rev))
        fs = fsspec.filesystem("dvault", **options)
        got = pq.read_table("data/table.parquet", filesystem=fs).to_pandas()
        pd.testing.assert_frame_equal(got, table(versions, rev))
    assert len(csv(versions, "v1")) != len(csv(versions, "v2"))  # the revisions differ


def test_s3_remote(versions: Versions, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    bucket = new_bucket(s3_client(moto_server), lock=False)
    url = f"s3://{bucket}/proj"
    with dvault.Repo.open(versions.root) as repo:
        repo.add_remote("s3", url, endpoint=moto_server)
        repo.push("s3", ["main", "v1", "v2"])
    for rev in ("v1", "v2"):
        options = {"remote": url, "endpoint": moto_server, "rev": rev}
        got = pd.read_csv("dvault://data/labels.csv", storage_options=options)
        pd.testing.assert_frame_equal(got, csv(versions, rev))
        got = pd.read_parquet("dvault://data/table.parquet", storage_options=options)
        pd.testing.assert_frame_equal(got, table(versions, rev))
    with fsspec.open(
        "dvault://data/big.bin", remote="s3", repo=str(versions.root), rev="v2"
    ) as f:  # by the project's remote name
        f.seek(1_000_000)
        assert f.read(100_000) == versions.files["v2"]["data/big.bin"][1_000_000:1_100_000]


def test_listing_and_reading(versions: Versions) -> None:
    fs = fsspec.filesystem("dvault", repo=str(versions.root), rev="v1")
    assert fs.ls("dvault://data", detail=False) == [
        "data/big.bin",
        "data/current.csv",
        "data/labels.csv",
        "data/sub",
        "data/table.parquet",
    ]
    info = fs.info("data/labels.csv")
    assert info["type"] == "file" and info["size"] == len(versions.files["v1"]["data/labels.csv"])
    assert fs.info("data/sub")["type"] == "directory"
    assert fs.isdir("data/sub") and fs.isfile("data/labels.csv") and not fs.exists("data/no")
    assert fs.find("data/sub") == ["data/sub/a.txt", "data/sub/deeper/b.txt"]
    assert fs.glob("data/*.csv") == ["data/current.csv", "data/labels.csv"]
    assert [top for top, _, _ in fs.walk("data")] == ["data", "data/sub", "data/sub/deeper"]
    assert fs.cat("data/labels.csv") == versions.files["v1"]["data/labels.csv"]
    assert fs.cat("data/labels.csv", rev="v2") == versions.files["v2"]["data/labels.csv"]
    assert (
        fs.cat_file("data/big.bin", start=10, end=20) == versions.files["v1"]["data/big.bin"][10:20]
    )
    assert fs.ukey("data/sub/a.txt") == fs.ukey("data/sub/a.txt", rev="v2")  # unchanged
    assert fs.ukey("data/labels.csv") != fs.ukey("data/labels.csv", rev="v2")
    with fs.open("data/labels.csv", "r") as text:
        assert text.readline() == "path,label\n"
    with pytest.raises(FileNotFoundError):
        pd.read_csv("dvault://data/none.csv", storage_options={"repo": str(versions.root)})
    with pytest.raises(dvault.UnknownRevision):
        fs.ls("data", rev="v7")


def test_writes_are_refused(versions: Versions) -> None:
    fs = fsspec.filesystem("dvault", repo=str(versions.root))
    for attempt in (
        lambda: fs.open("data/new.csv", "wb"),
        lambda: fs.pipe("data/new.csv", b"x"),
        lambda: fs.rm("data/labels.csv"),
        lambda: fs.mkdir("data/new"),
        lambda: fs.mv("data/labels.csv", "data/moved.csv"),
        lambda: pd.DataFrame({"a": [1]}).to_csv(
            "dvault://data/out.csv", storage_options={"repo": str(versions.root)}
        ),
    ):
        with pytest.raises(dvault.ReadOnly) as refused:
            attempt()
        assert isinstance(refused.value, PermissionError)
        assert "read-only" in str(refused.value)
    assert fs.cat("data/labels.csv") == versions.files["v2"]["data/labels.csv"]
