"""Object ids: blake3 over a type-tagged header, stable and domain-separated."""

from __future__ import annotations

import pytest
from blake3 import blake3
from hypothesis import given
from hypothesis import strategies as st

from dvault.hashing import ID_SIZE, ObjectType, from_hex, object_header, object_id, short, to_hex

TYPE_NAMES = {
    ObjectType.BLOB: b"blob",
    ObjectType.CHUNKS: b"chunks",
    ObjectType.TREE: b"tree",
    ObjectType.COMMIT: b"commit",
    ObjectType.TAG: b"tag",
}


def expected_id(name: bytes, body: bytes) -> bytes:
    """The id as docs/format.md specifies it, computed without dvault's code."""
    return blake3(name + b" " + str(len(body)).encode() + b"\0" + body).digest()


@pytest.mark.parametrize("kind", list(ObjectType))
def test_id_is_blake3_of_header_and_body(kind: ObjectType) -> None:
    """Another implementation can recompute any id from the type name and body alone."""
    body = b"hello world\n"
    assert object_id(kind, body) == expected_id(TYPE_NAMES[kind], body)
    assert len(object_id(kind, body)) == ID_SIZE


def test_known_vector() -> None:
    """The empty blob's id is pinned: changing the scheme silently would orphan every repo."""
    assert object_header(ObjectType.BLOB, 0) == b"blob 0\0"
    assert object_id(ObjectType.BLOB, b"") == blake3(b"blob 0\0").digest()


@given(st.binary(max_size=4096), st.sampled_from(list(ObjectType)))
def test_id_matches_reference(body: bytes, kind: ObjectType) -> None:
    """Ids agree with the reference computation for arbitrary bodies (and memoryviews)."""
    want = expected_id(TYPE_NAMES[kind], body)
    assert object_id(kind, body) == want
    assert object_id(kind, memoryview(body)) == want


@given(st.binary(max_size=1024))
def test_domain_separation(body: bytes) -> None:
    """The same bytes stored as different object types never share an id."""
    ids = {object_id(kind, body) for kind in ObjectType}
    assert len(ids) == len(ObjectType)


def test_type_tags_are_distinct() -> None:
    """Every object type has its own header name, as the format specifies."""
    assert {k.tag for k in ObjectType} == set(TYPE_NAMES.values())
    for kind, name in TYPE_NAMES.items():
        assert kind.tag == name


def test_hex_round_trip() -> None:
    """to_hex / from_hex are inverse and short() is a prefix of the full hex."""
    oid = object_id(ObjectType.BLOB, b"x")
    text = to_hex(oid)
    assert len(text) == 64
    assert text == text.lower()
    assert from_hex(text) == oid
    assert from_hex(text.upper()) == oid
    assert text.startswith(short(oid))
    assert len(short(oid)) == 12


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "ab",
        "0" * 63,
        "0" * 65,
        "0" * 62 + "zz",
        "g" * 64,
        " " + "0" * 63,
        " " + "0" * 62 + " ",  # fromhex skips spaces: would give a 31-byte id
        "00 " * 21 + "0",
        "0" * 62 + "\n\n",
        "\u00e9" * 64,
        "0" * 128,
    ],
)
def test_from_hex_rejects_bad_input(bad: str) -> None:
    """Anything but exactly 64 hex digits is refused with ValueError."""
    with pytest.raises(ValueError):
        from_hex(bad)
