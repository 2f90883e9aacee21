"""Signing keys, signatures inside commits and tags, and the trusted-signers file."""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

import pytest

from dvault import signing
from dvault.commitobjects import Commit, Signature, Tag, canonical_json
from dvault.errors import CorruptObject, UsageError
from dvault.hashing import ObjectId, ObjectType
from dvault.objects import decode, encode

TREE = ObjectId(bytes(range(32)))


@pytest.fixture
def keydir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keys go to a private directory; no signing-key choice leaks in from outside."""
    monkeypatch.setenv("DVAULT_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.delenv("DVAULT_SIGNING_KEY", raising=False)
    return tmp_path / "cfg" / "keys"


def _commit(message: str = "v1") -> Commit:
    return Commit(TREE, (), "Ada <ada@example.com>", 1_764_057_600_000_000_000, message)


def _body(obj: Commit | Tag) -> tuple[ObjectType, bytes]:
    kind, body, _ = encode(obj)
    return kind, body


def _trusting(*keys: signing.KeyInfo) -> signing.Signers:
    return signing.Signers({k.public: k.name for k in keys})


# -- keys -------------------------------------------------------------------------------


def test_keys_dir_follows_dvault_then_xdg_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DVAULT_CONFIG_DIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert signing.keys_dir() == tmp_path / "home" / ".config" / "dvault" / "keys"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert signing.keys_dir() == tmp_path / "xdg" / "dvault" / "keys"
    monkeypatch.setenv("DVAULT_CONFIG_DIR", str(tmp_path / "dv"))
    assert signing.keys_dir() == tmp_path / "dv" / "keys"


def test_generate_is_private_durable_and_never_overwrites(keydir: Path) -> None:
    info = signing.generate("laptop")
    assert info.path == keydir / "laptop.key"
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keydir.stat().st_mode) == 0o700
    before = info.path.read_bytes()
    with pytest.raises(UsageError, match="never overwritten"):
        signing.generate("laptop")
    assert info.path.read_bytes() == before
    assert list(keydir.iterdir()) == [info.path]  # no temp file left behind
    assert len(info.fingerprint) == 16 and info.fingerprint != signing.generate("ci").fingerprint
    assert [k.name for k in signing.list_keys()] == ["ci", "laptop"]
    assert info.signer_line == f"laptop ed25519:{info.public.hex()}"
    with pytest.raises(UsageError, match="invalid key name"):
        signing.generate("../escape")


def test_pick_key_default_only_and_explicit(keydir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="no signing key"):
        signing.load_key(None)
    signing.generate("work")
    assert signing.load_key(None)[0].name == "work"  # the only key
    signing.generate("home")
    with pytest.raises(UsageError, match="several signing keys"):
        signing.load_key(None)
    monkeypatch.setenv("DVAULT_SIGNING_KEY", "home")
    assert signing.load_key(None)[0].name == "home"
    assert signing.load_key("work")[0].name == "work"
    with pytest.raises(UsageError, match="no signing key named 'nope'"):
        signing.load_key("nope")


def test_key_readable_by_others_is_refused(keydir: Path) -> None:
    info = signing.generate()
    info.path.chmod(0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        signing.load_key(None)


# -- signatures -------------------------------------------------------------------------


def test_good_unknown_and_unsigned(keydir: Path) -> None:
    info, private = signing.load_key(signing.generate().name)
    signed = signing.sign(_commit(), private)
    kind, body = _body(signed)
    assert signing.check(kind, body, _trusting(info)).status == signing.GOOD
    assert signing.check(kind, body, _trusting(info)).signer == "default"
    unknown = signing.check(kind, body, signing.Signers({}))
    assert (unknown.status, unknown.key) == (signing.UNKNOWN, info.public)
    assert signing.check(*_body(_commit()), _trusting(info)).status == signing.UNSIGNED
    tag = signing.sign(Tag(TREE, "commit", "v1", "Ada", 1, "baseline"), private)
    assert signing.check(*_body(tag), _trusting(info)).status == signing.GOOD


def test_tampered_signature_or_content_is_bad(keydir: Path) -> None:
    info, private = signing.load_key(signing.generate().name)
    signed = signing.sign(_commit(), private)
    assert signed.signature is not None
    flipped = bytes([signed.signature.sig[0] ^ 1]) + signed.signature.sig[1:]
    forged = dataclasses.replace(
        signed, signature=dataclasses.replace(signed.signature, sig=flipped)
    )
    assert signing.check(*_body(forged), _trusting(info)).status == signing.BAD
    edited = dataclasses.replace(signed, message="v1, quietly relabelled")
    assert signing.check(*_body(edited), _trusting(info)).status == signing.BAD
    other, other_private = signing.load_key(signing.generate("mallory").name)
    stolen = dataclasses.replace(signed, signature=Signature(other.public, signed.signature.sig))
    assert signing.check(*_body(stolen), _trusting(info, other)).status == signing.BAD
    # an extra field someone adds to signed JSON is covered too (not just known fields)
    kind, body = _body(signed)
    value = json.loads(body)
    value["zzz"] = 1
    assert signing.check(kind, canonical_json(value), _trusting(info)).status == signing.BAD
    assert signing.check(
        *_body(signing.sign(_commit(), other_private)), _trusting(info)
    ).status == (signing.UNKNOWN)


def test_unsigned_objects_keep_their_encoding_and_signed_ones_round_trip(keydir: Path) -> None:
    """Objects written before signing existed decode unchanged; the signature is a field
    inside the canonical JSON, so the object id covers it."""
    old = (
        b'{"author":"Ada","message":"m","meta":{},"parents":[],"roots":{},'
        b'"time_ns":1,"tree":"' + TREE.hex().encode() + b'","version":1}'
    )
    commit = decode(ObjectType.COMMIT, old)
    assert isinstance(commit, Commit) and commit.signature is None
    assert commit.encode() == old
    _, private = signing.load_key(signing.generate().name)
    signed = signing.sign(commit, private)
    kind, body, oid = encode(signed)
    assert b'"signature":{"alg":"ed25519","key":"' in body
    assert decode(kind, body) == signed
    assert oid != encode(commit)[2]


@pytest.mark.parametrize(
    "signature",
    [
        {"alg": "rsa", "key": "00" * 32, "sig": "00" * 64},
        {"alg": "ed25519", "key": "00" * 31, "sig": "00" * 64},
        {"alg": "ed25519", "key": "00" * 32, "sig": "0G" * 64},
        {"alg": "ed25519", "key": "00" * 32, "sig": "00" * 64, "extra": ""},
        "ed25519:00",
    ],
)
def test_malformed_signature_field_is_corrupt(signature: object) -> None:
    value = json.loads(_commit().encode())
    value["signature"] = signature
    with pytest.raises(CorruptObject, match="signature"):
        decode(ObjectType.COMMIT, canonical_json(value))


# -- trust file and push patterns -------------------------------------------------------


def test_signers_file_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "ab" * 32
    text = f"# release managers\n\nalice ed25519:{key}  # laptop\nbob ed25519:{'cd' * 32}\n"
    assert signing.parse_signers(text, "f") == {
        bytes.fromhex(key): "alice",
        bytes.fromhex("cd" * 32): "bob",
    }
    for bad in (f"alice {key}", f"alice ed25519:{key[:-2]}", "alice", f"a b ed25519:{key}"):
        with pytest.raises(UsageError, match=r"f:1: expected"):
            signing.parse_signers(bad, "f")
    monkeypatch.setenv("DVAULT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("DVAULT_ALLOWED_SIGNERS", raising=False)
    assert signing.trusted_signers(tmp_path).names == {}
    (tmp_path / signing.SIGNERS_FILE).write_text(text)  # in the work tree: counts for nothing
    assert signing.trusted_signers(tmp_path).names == {}
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / signing.ALLOWED_SIGNERS_FILE).write_text(text)  # the user's own
    assert signing.trusted_signers(tmp_path).names[bytes.fromhex(key)] == "alice"


def test_required_patterns_match_branches_and_tags() -> None:
    patterns = signing.required_patterns({"push": {"require-signed": ["main", "v*"]}})
    assert signing.ref_matches("refs/heads/main", patterns)
    assert signing.ref_matches("refs/tags/v1.2", patterns)
    assert not signing.ref_matches("refs/heads/mainline", patterns)
    assert not signing.ref_matches("refs/heads/dev", patterns)
    assert signing.required_patterns({}) == []
    with pytest.raises(UsageError, match="require-signed"):
        signing.required_patterns({"push": {"require-signed": [1]}})
