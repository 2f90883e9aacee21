"""Encrypted remotes: round trips, nothing in clear on the storage, passphrases and key slots,
and tampering detected (flipped bytes, truncation, swapped files)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvault.hashing import ObjectType, object_id
from dvault.remote.backend import RemoteError, RemoteNotFound
from dvault.remote.directory import DirectoryBackend
from dvault.remote.encrypted import (
    CSEGMENT,
    HEADER,
    SEGMENT,
    DecryptionFailed,
    EncryptedBackend,
    cipher_size,
    plain_size,
    segment_count,
)
from dvault.remote.keys import RepoKeys, WrongPassphrase, make_slot, unlock
from dvault.store.pack import read_footer
from tests.cli.helpers import Project, one_error_line

from .conftest import (
    RemoteTarget,
    clone,
    commit_file,
    new_project,
    tree_digests,
    write_ml_v1,
)

PASS = "correct horse battery"
NEEDLE = os.urandom(48)  # in a file of incompressible bytes: stored as-is in a plain pack


def _encrypted_ml(root: Path, remote: RemoteTarget) -> Project:
    """The ML project at v1, plus a file holding NEEDLE, with an encrypted origin."""
    remote.env["DVAULT_PASSPHRASE"] = PASS
    proj = new_project(root, remote.env)
    write_ml_v1(proj)
    proj.write("data/needle.bin", os.urandom(5000) + NEEDLE + os.urandom(5000))
    proj.ok("add", "data", "models", "README.md")
    proj.ok("commit", "-m", "v1 dataset")
    proj.ok("tag", "v1", "-m", "baseline")
    added = proj.ok(*remote.add_args("origin", "--encrypt", "--kdf-cost", "16"))
    assert "encrypted" in added.out
    return proj


@pytest.fixture
def enc(tmp_path: Path, remote: RemoteTarget) -> Project:
    return _encrypted_ml(tmp_path / "work", remote)


def _remote_bytes(remote: RemoteTarget) -> dict[str, bytes]:
    return {key: remote.read(key) for key in remote.keys()}  # noqa: SIM118 (not a dict)


def _ids_of(proj: Project) -> set[bytes]:
    """Every object id and pack name of a project, as raw bytes."""
    found = set()
    for pack in (proj.root / ".dvault" / "packs").glob("*.pack"):
        found.add(bytes.fromhex(pack.stem))
        found.update(entry.id for entry in read_footer(pack))
    return found


def _leaks(files: dict[str, bytes], ids: set[bytes], needle: bytes) -> list[str]:
    """Which ids (raw, hex, any 8-byte prefix in hex) or the needle appear in names or bytes."""
    names = "\n".join(files).encode()
    leaks = []
    for oid in ids:
        for form in (oid, oid.hex().encode(), oid.hex()[:16].encode()):
            if form in names or any(form in data for data in files.values()):
                leaks.append(oid.hex())
    if any(needle in data for data in files.values()):
        leaks.append("the content of data/needle.bin")
    return leaks


def _files_under(top: Path) -> dict[str, bytes]:
    return {p.relative_to(top).as_posix(): p.read_bytes() for p in top.rglob("*") if p.is_file()}


def test_encrypted_round_trip_and_nothing_in_clear(
    enc: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    """Push, clone, pull, partial clone and verify work on an encrypted remote, and no object
    id, pack name, commit id or file content appears in any name or byte it holds (key slots
    and marker included); the same check finds all of them on a plain remote."""
    enc.ok("push", "origin", "main", "v1")
    files = _remote_bytes(remote)
    assert any(key.startswith("keys/") for key in files)
    ids = _ids_of(enc)
    assert bytes.fromhex(enc.head()) in ids
    assert _leaks(files, ids, NEEDLE) == []

    copy = clone(remote, tmp_path / "copy")
    assert tree_digests(copy.root) == tree_digests(enc.root)
    config = (copy.root / ".dvault" / "config").read_text()
    assert "encrypt = true" in config  # the clone pins the encryption
    commit_file(enc, "data/labels/extra.csv", "file,label\nimg99.bin,3\n", "v2")
    enc.ok("push")
    copy.ok("pull")
    assert (copy.root / "data/labels/extra.csv").read_text() == "file,label\nimg99.bin,3\n"
    verified = copy.ok("verify", "--remote", "origin", "--read-data")
    assert "OK" in verified.out
    partial = clone(remote, tmp_path / "partial", paths=["data/labels"])
    assert (partial.root / "data/labels/train.csv").read_bytes() == (
        enc.root / "data/labels/train.csv"
    ).read_bytes()
    assert _leaks(_remote_bytes(remote), _ids_of(enc), NEEDLE) == []

    if remote.kind == "dir":  # the control: a plain remote leaks all of it
        plain = tmp_path / "plain.remote"
        enc.ok("remote", "add", "--init", "plain", str(plain))
        enc.ok("push", "plain", "main", "v1")
        leaked = _leaks(_files_under(plain), _ids_of(enc), NEEDLE)
        assert enc.head() in leaked and "the content of data/needle.bin" in leaked


@pytest.fixture
def enc_dir(tmp_path: Path, remote_env: dict[str, str]) -> tuple[Project, RemoteTarget]:
    """The encrypted ML project on a directory remote (for checks that do not depend on
    the storage)."""
    target = RemoteTarget("dir", str(tmp_path / "r"), remote_env, root=tmp_path / "r")
    return _encrypted_ml(tmp_path / "work", target), target


def test_wrong_or_missing_passphrase_is_one_line_and_changes_nothing(
    enc_dir: tuple[Project, RemoteTarget], tmp_path: Path
) -> None:
    enc, remote = enc_dir
    enc.ok("push", "origin", "main")
    commit_file(enc, "notes.txt", "more\n", "v2")
    before = _remote_bytes(remote)
    state = _files_under(enc.root / ".dvault" / "remotes")
    wrong = Project(enc.root, {**remote.env, "DVAULT_PASSPHRASE": "not the passphrase"})
    result = wrong.run("push")
    assert result.code == 2, result.describe()
    assert "wrong passphrase for encrypted remote origin" in one_error_line(result)
    missing = {k: v for k, v in remote.env.items() if k != "DVAULT_PASSPHRASE"}
    result = Project(enc.root, missing).run("fetch")  # stderr is not a terminal here
    assert result.code == 2, result.describe()
    assert "DVAULT_PASSPHRASE" in one_error_line(result)
    assert _remote_bytes(remote) == before
    assert _files_under(enc.root / ".dvault" / "remotes") == state

    dest = tmp_path / "copy"
    result = wrong.run(*remote.clone_args(dest), cwd=tmp_path)
    assert result.code == 2, result.describe()
    assert "wrong passphrase" in one_error_line(result)
    assert not dest.exists()


def test_second_passphrase_adds_one_slot_and_re_encrypts_nothing(
    enc: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    enc.ok("push", "origin", "main", "v1")
    before = _remote_bytes(remote)
    stamps = {key: remote.stamp(key) for key in before}
    added = enc.ok(
        "remote", "passphrase", "add", "origin", "--label", "ci", "--kdf-cost", "16",
        env={"DVAULT_NEW_PASSPHRASE": "second passphrase"},
    )  # fmt: skip
    assert "no data was re-encrypted" in added.out
    after = _remote_bytes(remote)
    new = set(after) - set(before)
    assert len(new) == 1 and next(iter(new)).startswith("keys/")
    assert {key: after[key] for key in before} == before
    assert {key: remote.stamp(key) for key in before} == stamps
    listed = enc.ok("remote", "passphrase", "list", "origin", "--json").json()
    assert len(listed) == 2 and {s["label"] for s in listed} == {None, "ci"}

    for passphrase in (PASS, "second passphrase"):  # both open it (log, footers, data)
        enc.ok("verify", "--remote", "origin", "--read-data", env={"DVAULT_PASSPHRASE": passphrase})
    runner = Project(tmp_path, {**remote.env, "DVAULT_PASSPHRASE": "second passphrase"})
    runner.ok(*remote.clone_args(tmp_path / "copy"), cwd=tmp_path)
    assert tree_digests(tmp_path / "copy") == tree_digests(enc.root)
    short = enc.run("remote", "passphrase", "add", "origin", env={"DVAULT_NEW_PASSPHRASE": "x"})
    assert short.code == 2 and "at least 8 characters" in one_error_line(short)


def _largest_pack(remote: RemoteTarget) -> str:
    packs = remote.keys("packs/")
    return max(packs, key=lambda key: packs[key])


def test_flipped_byte_in_an_encrypted_pack_is_detected(
    enc: Project, remote: RemoteTarget, tmp_path: Path
) -> None:
    enc.ok("push", "origin", "main", "v1")
    key = _largest_pack(remote)
    data = bytearray(remote.read(key))
    data[len(data) // 2] ^= 0x01
    remote.overwrite(key, bytes(data))
    dest = tmp_path / "copy"
    result = Project(tmp_path, remote.env).run(*remote.clone_args(dest))
    assert result.code == 3, result.describe()
    line = one_error_line(result)
    assert "failed authentication" in line and key[:30] in line
    assert not dest.exists()
    result = enc.run("verify", "--remote", "origin", "--read-data")
    assert result.code == 1 and "failed authentication" in result.err, result.describe()


def test_truncated_encrypted_file_is_detected(
    enc_dir: tuple[Project, RemoteTarget], tmp_path: Path
) -> None:
    """A pack cut short anywhere (mid-segment, exactly at a segment boundary, inside the last
    tag) fails with a clear error instead of yielding a shorter pack."""
    enc, remote = enc_dir
    enc.ok("push", "origin", "main")
    assert remote.root is not None
    key = _largest_pack(remote)
    data = remote.read(key)
    count = segment_count(len(data))
    assert count is not None and count > 2
    last = HEADER + (count - 1) * CSEGMENT  # where the last segment starts
    for cut, keep in (("mid", last - 1000), ("boundary", last), ("tag", last + 5)):
        copy = RemoteTarget("dir", str(tmp_path / cut), remote.env, root=tmp_path / cut)
        shutil.copytree(remote.root, tmp_path / cut)
        copy.overwrite(key, data[:keep])
        result = Project(tmp_path, remote.env).run(*copy.clone_args(tmp_path / f"{cut}.copy"))
        assert result.code == 3, result.describe()
        line = one_error_line(result)
        assert "impossible size" in line or "failed authentication" in line, line


def test_remote_configured_encrypted_is_never_used_in_clear(
    enc_dir: tuple[Project, RemoteTarget], tmp_path: Path, remote_env: dict[str, str]
) -> None:
    """A remote swapped for an empty location (or an unencrypted one) is refused: the push
    does not fall back to sending plaintext."""
    proj, _ = enc_dir
    proj.ok("push", "origin", "main")
    shutil.move(tmp_path / "r", tmp_path / "r.moved")
    (tmp_path / "r").mkdir()
    result = proj.run("push", "origin", "v1")
    assert result.code == 3, result.describe()
    assert "configured as encrypted" in one_error_line(result)
    assert list((tmp_path / "r").iterdir()) == []
    # and a plain remote cannot be turned into an encrypted one in place
    proj.ok("remote", "add", "--init", "plain", str(tmp_path / "p"))
    proj.ok("push", "plain", "main")
    result = proj.run("remote", "add", "--init", "enc", str(tmp_path / "p"), "--encrypt")
    assert result.code == 2 and "unencrypted dvault data" in one_error_line(result)


# -- the wrapper itself -------------------------------------------------------------------

SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 3 * SEGMENT + 17, 200_000]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[EncryptedBackend, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("enc")
    (root / "remote").mkdir()  # a backend never creates its directory
    backend = EncryptedBackend(
        DirectoryBackend(root / "remote"), RepoKeys.derive(os.urandom(32)), root
    )
    files = {}
    for size in SIZES:
        data = os.urandom(size)
        key = f"packs/{object_id(ObjectType.BLOB, data).hex()}.pack"
        if size % 2:
            backend.create(key, data)
        else:
            (root / "src").write_bytes(data)
            backend.upload(key, root / "src")
            (root / "src").unlink()
        files[key] = data
    return backend, files


def test_sizes_and_names_round_trip(stored: tuple[EncryptedBackend, dict[str, bytes]]) -> None:
    backend, files = stored
    assert backend.list("packs/") == {key: len(data) for key, data in files.items()}
    for key, data in files.items():
        assert backend.size(key) == len(data)
        assert backend.read(key, len(data)) == data
        stored_size = backend.inner.size(backend.stored_name(key))
        assert stored_size == cipher_size(len(data))
        assert plain_size(cipher_size(len(data))) == len(data)
        assert segment_count(cipher_size(len(data))) == max(1, -(-len(data) // SEGMENT))
        assert key[6:70] not in backend.stored_name(key)
    assert set(backend.inner.list("packs/")).isdisjoint(files)
    assert backend.size("packs/absent.pack") is None
    with pytest.raises(RemoteNotFound):
        backend.read_range("packs/absent.pack", 0, 1)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_range_reads_return_exactly_the_plaintext_bytes(
    stored: tuple[EncryptedBackend, dict[str, bytes]], data: st.DataObject
) -> None:
    backend, files = stored
    key = data.draw(st.sampled_from(sorted(files)))
    plain = files[key]
    offset = data.draw(st.integers(0, len(plain) + 10))
    length = data.draw(st.integers(0, 3 * SEGMENT + 100))
    assert backend.read_range(key, offset, length) == plain[offset : offset + length]
    if offset + length <= len(plain):
        assert backend.read_exact(key, offset, length) == plain[offset : offset + length]


def test_download_streams_the_plaintext(
    stored: tuple[EncryptedBackend, dict[str, bytes]], tmp_path: Path
) -> None:
    backend, files = stored
    for i, (key, data) in enumerate(files.items()):
        ticks: list[int] = []
        backend.download(key, tmp_path / f"{i}.out", ticks.append, limit=len(data))
        assert (tmp_path / f"{i}.out").read_bytes() == data
        assert sum(ticks) == len(data)


def test_swapped_reordered_or_foreign_files_fail_authentication(tmp_path: Path) -> None:
    keys = RepoKeys.derive(os.urandom(32))
    (tmp_path / "remote").mkdir()  # a backend never creates its directory
    inner = DirectoryBackend(tmp_path / "remote")
    backend = EncryptedBackend(inner, keys, tmp_path)
    first, second = os.urandom(3 * SEGMENT), os.urandom(3 * SEGMENT)
    backend.create("refs/log/0000000000000000.json", first)
    backend.create("refs/log/0000000000000001.json", second)
    # a file copied under another name does not decrypt (its key is bound to its name)
    raw0 = inner.read("refs/log/0000000000000000.json", 1 << 20)
    inner.create("refs/log/0000000000000002.json", raw0)
    with pytest.raises(DecryptionFailed, match=r"0000000000000002\.json"):
        EncryptedBackend(inner, keys, tmp_path).read("refs/log/0000000000000002.json", 1 << 20)
    # segments swapped within a file
    a, b = HEADER, HEADER + CSEGMENT
    swapped = raw0[:a] + raw0[b : b + CSEGMENT] + raw0[a:b] + raw0[b + CSEGMENT :]
    inner.create("refs/log/0000000000000003.json", swapped)
    with pytest.raises(DecryptionFailed, match="segment 0 of 3"):
        EncryptedBackend(inner, keys, tmp_path).read("refs/log/0000000000000003.json", 1 << 20)
    # the last segment dropped: the new last one was not sealed as final
    inner.create("refs/log/0000000000000004.json", raw0[: HEADER + 2 * CSEGMENT])
    with pytest.raises(DecryptionFailed):
        EncryptedBackend(inner, keys, tmp_path).read_range("refs/log/0000000000000004.json", 0, 1)
    # another repository key sees neither the names nor the contents
    other = EncryptedBackend(inner, RepoKeys.derive(os.urandom(32)), tmp_path)
    backend.create("packs/" + "ab" * 32 + ".pack", b"x")
    assert other.list("packs/") == {}
    assert backend.list("packs/") == {"packs/" + "ab" * 32 + ".pack": 1}
    with pytest.raises(DecryptionFailed):
        other.read("refs/log/0000000000000000.json", 1 << 20)
    assert isinstance(DecryptionFailed("x"), RemoteError)


def test_key_slots_open_only_with_their_passphrase(tmp_path: Path) -> None:
    (tmp_path / "remote").mkdir()  # a backend never creates its directory
    inner = DirectoryBackend(tmp_path / "remote")
    keys = RepoKeys.derive(os.urandom(32))
    inner.create("keys/a.json", make_slot(keys, "first passphrase", 16))
    inner.create("keys/b.json", make_slot(keys, "second passphrase", 16))
    other = RepoKeys.derive(os.urandom(32))  # a slot for another key is never tried
    inner.create("keys/c.json", make_slot(other, "third passphrase", 16))
    for passphrase, slot in (
        ("first passphrase", "keys/a.json"),
        ("second passphrase", "keys/b.json"),
    ):
        opened, name = unlock(inner, keys.key_id, passphrase)
        assert opened.root == keys.root and name == slot
    with pytest.raises(WrongPassphrase):
        unlock(inner, keys.key_id, "third passphrase")
    # a slot demanding an absurd amount of memory is ignored, not computed
    greedy = make_slot(keys, "first passphrase", 16).replace(b'"log_n":16', b'"log_n":30')
    inner.create("keys/d.json", greedy)
    opened, name = unlock(inner, keys.key_id, "first passphrase", hint="keys/d.json")
    assert name == "keys/a.json"
    assert keys.root.hex() not in repr(keys)  # a traceback never shows the key


@pytest.mark.parametrize("remote", ["dir"], indirect=True)
def test_an_encrypted_remote_can_protect_branches(tmp_path: Path, remote: RemoteTarget) -> None:
    """--encrypt and --protect together: one marker names both, and a forced push that
    rewinds the protected branch is refused through the encryption layer."""
    proj = _encrypted_ml_protected(tmp_path / "work", remote)
    marker = json.loads(remote.read("dvault-remote.json"))
    assert marker["protect"] == ["main"] and "encryption" in marker
    proj.ok("push")
    alice = clone(remote, tmp_path / "alice")
    commit_file(alice, "data/labels/train.csv", "file,label\nimg00.bin,1\n", "alice")
    alice.ok("push")
    commit_file(proj, "data/labels/train.csv", "file,label\nimg00.bin,2\n", "diverged")
    proj.ok("fetch")
    result = proj.run("push", "--force")
    assert result.code == 1, result.describe()
    assert "protected" in one_error_line(result)
    alice.ok("verify", "--remote", "origin")


def _encrypted_ml_protected(root: Path, remote: RemoteTarget) -> Project:
    remote.env["DVAULT_PASSPHRASE"] = PASS
    proj = new_project(root, remote.env)
    write_ml_v1(proj)
    proj.ok("add", "data", "models", "README.md")
    proj.ok("commit", "-m", "v1 dataset")
    proj.ok(*remote.add_args("origin", "--encrypt", "--kdf-cost", "16", "--protect", "main"))
    return proj
