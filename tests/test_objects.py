"""Object encodings: exact round-trips, one spelling per object, and hostile input refused."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvault.commitobjects import Commit, Tag
from dvault.errors import CorruptObject
from dvault.hashing import FORMAT_VERSION, ObjectId, ObjectType, object_id
from dvault.names import PROJECT_FILES
from dvault.objects import ChunkList, decode, encode
from dvault.treeobjects import (
    MODE_DIR,
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    VALID_MODES,
    Tree,
    TreeEntry,
)

# -- strategies ---------------------------------------------------------------------------

ids = st.binary(min_size=32, max_size=32).map(ObjectId)
names = st.binary(min_size=1, max_size=64).filter(
    lambda n: b"/" not in n and b"\0" not in n and n not in (b".", b"..")
)
modes = st.sampled_from(sorted(VALID_MODES))
sizes = st.integers(min_value=0, max_value=2**64 - 1)
entries = st.builds(TreeEntry, name=names, mode=modes, size=sizes, id=ids)
trees = st.lists(entries, max_size=20, unique_by=lambda e: e.name).map(Tree.build)
chunk_lists = st.lists(
    st.tuples(ids, st.integers(min_value=0, max_value=2**32 - 1)), max_size=30
).map(lambda cs: ChunkList(tuple(cs)))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
time_ns = st.integers(min_value=0, max_value=2**64)
root_parts = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/"), min_size=1
).filter(lambda p: p not in (".", "..", ".git", ".dvault") and p not in PROJECT_FILES)
root_paths = st.lists(root_parts, min_size=1, max_size=3).map("/".join)
"""Valid tracked roots (names.root_problem): any other text is refused on decode."""
commits = st.builds(
    Commit,
    tree=ids,
    parents=st.lists(ids, max_size=3).map(tuple),
    author=st.text(),
    time_ns=time_ns,
    message=st.text(),
    roots=st.dictionaries(root_paths, st.sampled_from(["dataset", "labels", "checkpoint"])),
    meta=st.dictionaries(st.text(), json_values, max_size=5),
)
tags = st.builds(
    Tag,
    object=ids,
    object_type=st.sampled_from(["commit", "tree", "blob", "tag"]),
    name=st.text(min_size=1),
    tagger=st.text(),
    time_ns=time_ns,
    message=st.text(),
)

ENTRY = struct.Struct(">IQ32sH")


def raw_tree(items: list[tuple[bytes, int]], version: int = FORMAT_VERSION) -> bytes:
    """A tree body built by hand from the documented layout, in the given (maybe bad) order."""
    out = bytes([version])
    for name, mode in items:
        out += ENTRY.pack(mode, 7, b"\x11" * 32, len(name)) + name
    return out


def commit_dict(**overrides: Any) -> dict[str, Any]:
    """A valid commit as a JSON dict, with fields replaced by ``overrides``."""
    value: dict[str, Any] = {
        "author": "ann",
        "message": "m",
        "meta": {},
        "parents": [],
        "roots": {},
        "time_ns": 1,
        "tree": "ab" * 32,
        "version": FORMAT_VERSION,
    }
    value.update(overrides)
    return value


def canon(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# -- round trips --------------------------------------------------------------------------


@given(trees)
def test_tree_round_trip(tree: Tree) -> None:
    """A tree decodes to exactly what was encoded, and encoding is deterministic."""
    body = tree.encode()
    assert Tree.decode(body) == tree
    assert Tree.decode(body).encode() == body


@given(st.lists(entries, min_size=1, max_size=10, unique_by=lambda e: e.name))
def test_tree_build_sorts_so_order_never_changes_id(items: list[TreeEntry]) -> None:
    """The id of a directory depends on its content only, not on insertion order."""
    assert Tree.build(items).encode() == Tree.build(list(reversed(items))).encode()
    names_ = [e.name for e in Tree.build(items).entries]
    assert names_ == sorted(names_)


def test_tree_layout_matches_spec() -> None:
    """The binary layout is the documented one (readers in other languages depend on it)."""
    tree = Tree.build([TreeEntry(b"b", MODE_EXEC, 5, ObjectId(b"\x11" * 32))])
    assert tree.encode() == raw_tree([(b"b", MODE_EXEC)]).replace(
        ENTRY.pack(MODE_EXEC, 7, b"\x11" * 32, 1), ENTRY.pack(MODE_EXEC, 5, b"\x11" * 32, 1)
    )


def test_tree_encode_refuses_unsorted_or_duplicate() -> None:
    """A Tree built by hand out of order cannot be written (it would get a second id)."""
    a = TreeEntry(b"a", MODE_FILE, 0, ObjectId(b"\0" * 32))
    b = TreeEntry(b"b", MODE_FILE, 0, ObjectId(b"\0" * 32))
    with pytest.raises(ValueError):
        Tree((b, a)).encode()
    with pytest.raises(ValueError):
        Tree((a, a)).encode()


@given(chunk_lists)
def test_chunk_list_round_trip(chunks: ChunkList) -> None:
    """Chunk lists keep their order, ids and lengths; size is the sum of the lengths."""
    body = chunks.encode()
    got = ChunkList.decode(body)
    assert got == chunks
    assert got.size == sum(n for _, n in chunks.chunks)


@given(commits)
def test_commit_round_trip(commit: Commit) -> None:
    """Commits with any unicode text and JSON metadata survive encode/decode unchanged."""
    body = commit.encode()
    got = Commit.decode(body)
    assert got == commit
    assert got.encode() == body
    json.loads(body)  # readable by any JSON tool


@given(tags)
def test_tag_round_trip(tag: Tag) -> None:
    """Annotated tags survive encode/decode unchanged."""
    body = tag.encode()
    assert Tag.decode(body) == tag
    assert Tag.decode(body).encode() == body


@given(st.one_of(trees, chunk_lists, commits, tags))
def test_generic_encode_decode(obj: Tree | ChunkList | Commit | Tag) -> None:
    """encode() returns the right type and the id of the body; decode() inverts it."""
    kind, body, oid = encode(obj)
    assert oid == object_id(kind, body)
    assert decode(kind, body) == obj


def test_decode_refuses_blob_type() -> None:
    """Blobs are raw bytes; asking to decode one is an error, not a crash."""
    with pytest.raises(CorruptObject):
        decode(ObjectType.BLOB, b"abc")


# -- trees: hostile input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "items",
    [
        [(b"b", MODE_FILE), (b"a", MODE_FILE)],
        [(b"a", MODE_FILE), (b"a", MODE_FILE)],
        [(b"a", MODE_FILE), (b"a", MODE_DIR)],
        [(b"ab", MODE_FILE), (b"a", MODE_FILE)],
    ],
    ids=["unsorted", "duplicate", "duplicate-other-mode", "prefix-after"],
)
def test_tree_rejects_unsorted_or_duplicate(items: list[tuple[bytes, int]]) -> None:
    """Two spellings of one directory, or two files with one name, are refused."""
    with pytest.raises(CorruptObject):
        Tree.decode(raw_tree(items))


@pytest.mark.parametrize(
    "name", [b"", b".", b"..", b"a/b", b"/etc", b"../x", b"a\0b", b"\0", b"x/"]
)
def test_tree_rejects_dangerous_names(name: bytes) -> None:
    """Names that could escape the checkout directory or confuse paths are refused."""
    with pytest.raises(CorruptObject):
        Tree.decode(raw_tree([(name, MODE_FILE)]))


@pytest.mark.parametrize("mode", [0, 0o100664, 0o100666, 0o160000, 0o040755, 0xFFFFFFFF])
def test_tree_rejects_bad_modes(mode: int) -> None:
    """Only the four recorded modes are valid."""
    with pytest.raises(CorruptObject):
        Tree.decode(raw_tree([(b"a", mode)]))


@pytest.mark.parametrize("version", [0, 2, 255])
def test_tree_rejects_wrong_version(version: int) -> None:
    """A tree from an unknown format version is not guessed at."""
    with pytest.raises(CorruptObject):
        Tree.decode(raw_tree([(b"a", MODE_FILE)], version=version))


def test_tree_rejects_empty_body() -> None:
    """Even the empty tree has a version byte."""
    with pytest.raises(CorruptObject):
        Tree.decode(b"")


def test_tree_rejects_truncation_inside_an_entry() -> None:
    """Every cut that falls inside an entry (header or name) is detected."""
    body = raw_tree([(b"alpha", MODE_FILE), (b"beta", MODE_LINK)])
    first_end = 1 + ENTRY.size + len(b"alpha")
    for cut in range(2, len(body)):
        if cut == first_end:
            continue  # an entry boundary: a valid one-entry tree
        with pytest.raises(CorruptObject):
            Tree.decode(body[:cut])


def test_tree_rejects_name_length_past_end() -> None:
    """A name length pointing past the body is truncation, not a short name."""
    body = bytes([FORMAT_VERSION]) + ENTRY.pack(MODE_FILE, 0, b"\0" * 32, 65535) + b"abc"
    with pytest.raises(CorruptObject):
        Tree.decode(body)


# -- chunk lists: hostile input -----------------------------------------------------------


def test_chunk_list_rejects_damage() -> None:
    """Wrong version, wrong count, wrong total and any truncation are refused."""
    good = ChunkList(((ObjectId(b"\1" * 32), 10), (ObjectId(b"\2" * 32), 20))).encode()
    ChunkList.decode(good)
    for cut in range(len(good)):
        with pytest.raises(CorruptObject):
            ChunkList.decode(good[:cut])
    with pytest.raises(CorruptObject):
        ChunkList.decode(good + b"\0")
    with pytest.raises(CorruptObject):
        ChunkList.decode(bytes([2]) + good[1:])  # version
    head = struct.Struct(">BQI")
    with pytest.raises(CorruptObject):
        ChunkList.decode(head.pack(1, 31, 2) + good[head.size :])  # total
    with pytest.raises(CorruptObject):
        ChunkList.decode(head.pack(1, 30, 3) + good[head.size :])  # count


# -- commits and tags: hostile input ------------------------------------------------------


def test_commit_accepts_the_reference_dict() -> None:
    """Sanity check for the rejection tests below: the unmodified dict decodes."""
    commit = Commit.decode(canon(commit_dict()))
    assert commit.tree == bytes.fromhex("ab" * 32)
    assert commit.author == "ann"


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(commit_dict(), sort_keys=True).encode(),  # spaces after separators
        json.dumps(dict(reversed(commit_dict().items())), separators=(",", ":")).encode(),
        canon(commit_dict()) + b"\n",
        b" " + canon(commit_dict()),
        json.dumps(commit_dict(author="é"), sort_keys=True, separators=(",", ":")).encode(),
        canon(commit_dict()).replace(b'"author":"ann"', b'"author":"ann","author":"ann"'),
    ],
    ids=["whitespace", "unsorted", "newline", "leading-space", "ascii-escape", "dup-key"],
)
def test_commit_rejects_non_canonical_json(body: bytes) -> None:
    """Only one spelling of a commit is accepted, so a commit has exactly one id."""
    with pytest.raises(CorruptObject):
        Commit.decode(body)


@pytest.mark.parametrize(
    "overrides",
    [
        {"version": 2},
        {"version": "1"},
        {"version": True},
        {"version": None},
        {"tree": "ab" * 31},
        {"tree": "zz" * 32},
        {"tree": "AB" * 32},
        {"tree": None},
        {"tree": 5},
        {"parents": ["00" * 31]},
        {"parents": "ab" * 32},
        {"parents": [None]},
        {"author": 1},
        {"message": None},
        {"time_ns": "1"},
        {"time_ns": True},
        {"time_ns": 1.5},
        {"roots": []},
        {"roots": {"data": 1}},
        {"meta": []},
    ],
)
def test_commit_rejects_bad_fields(overrides: dict[str, Any]) -> None:
    """Wrong version, bad ids and mistyped fields are reported as corruption."""
    with pytest.raises(CorruptObject):
        Commit.decode(canon(commit_dict(**overrides)))


@pytest.mark.parametrize("missing", ["tree", "parents", "author", "time_ns", "message", "version"])
def test_commit_rejects_missing_fields(missing: str) -> None:
    """Every required field must be present."""
    value = commit_dict()
    del value[missing]
    with pytest.raises(CorruptObject):
        Commit.decode(canon(value))


def test_commit_rejects_truncation() -> None:
    """Any cut of a commit body is refused."""
    body = canon(commit_dict(parents=["cd" * 32]))
    for cut in range(len(body)):
        with pytest.raises(CorruptObject):
            Commit.decode(body[:cut])


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"meta":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"author":"\\ud800"}',
        b"\xff\xfe",
        b"null",
        b"[]",
        b'"x"',
    ],
    ids=["deep-array", "deep-in-dict", "lone-surrogate", "bad-utf8", "null", "list", "str"],
)
def test_json_decoders_reject_pathological_input(body: bytes) -> None:
    """Hostile JSON never escapes as RecursionError or UnicodeError: always CorruptObject."""
    for decoder in (Commit.decode, Tag.decode):
        with pytest.raises(CorruptObject):
            decoder(body)


def tag_dict(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "message": "",
        "name": "v1",
        "object": "ab" * 32,
        "tagger": "ann",
        "time_ns": 1,
        "type": "commit",
        "version": FORMAT_VERSION,
    }
    value.update(overrides)
    return value


def test_tag_accepts_the_reference_dict() -> None:
    """Sanity check for the rejection tests below."""
    assert Tag.decode(canon(tag_dict())).name == "v1"


@pytest.mark.parametrize(
    "overrides",
    [
        {"version": 0},
        {"type": "branch"},
        {"type": None},
        {"object": "ab"},
        {"object": "AB" * 32},
        {"name": 3},
        {"tagger": None},
        {"time_ns": False},
    ],
)
def test_tag_rejects_bad_fields(overrides: dict[str, Any]) -> None:
    """A tag with a bad target, type, version or field type is refused."""
    with pytest.raises(CorruptObject):
        Tag.decode(canon(tag_dict(**overrides)))


def test_tag_rejects_non_canonical() -> None:
    """Tags are canonical JSON too."""
    with pytest.raises(CorruptObject):
        Tag.decode(json.dumps(tag_dict()).encode())


# -- fuzz: random bytes either decode or raise CorruptObject ------------------------------

DECODERS: dict[str, Callable[[bytes], Tree | ChunkList | Commit | Tag]] = {
    "tree": Tree.decode,
    "chunks": ChunkList.decode,
    "commit": Commit.decode,
    "tag": Tag.decode,
}
FUZZ = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=1000)


def check_decoder(name: str, body: bytes) -> None:
    """Decoding succeeds with a re-encodable object, or fails with CorruptObject only."""
    try:
        obj = DECODERS[name](body)
    except CorruptObject:
        return
    obj.encode()


@FUZZ
@given(st.sampled_from(sorted(DECODERS)), st.binary(max_size=2048))
def test_fuzz_random_bytes(name: str, body: bytes) -> None:
    """Any random bytes given to any decoder never raise anything but CorruptObject."""
    check_decoder(name, body)


@FUZZ
@given(
    st.sampled_from(sorted(DECODERS)),
    st.binary(max_size=64),
    st.lists(st.tuples(st.sampled_from([MODE_FILE, 0, 7]), st.binary(max_size=8)), max_size=5),
)
def test_fuzz_tree_like_bytes(name: str, prefix: bytes, items: list[tuple[int, bytes]]) -> None:
    """Plausible tree-shaped bytes (valid version, entry headers) are parsed safely."""
    body = bytes([FORMAT_VERSION]) + prefix[:1]
    for mode, raw_name in items:
        body += ENTRY.pack(mode, len(prefix), b"\0" * 32, len(raw_name) + len(prefix) % 3)
        body += raw_name
    check_decoder(name, body)


@FUZZ
@given(
    st.sampled_from(sorted(DECODERS)),
    st.one_of(commits, tags, trees, chunk_lists),
    st.data(),
)
def test_fuzz_mutated_valid_objects(
    name: str, obj: Tree | ChunkList | Commit | Tag, data: st.DataObject
) -> None:
    """Valid encodings with a byte flipped, inserted or deleted are parsed safely."""
    body = bytearray(obj.encode())
    if body:
        pos = data.draw(st.integers(0, len(body) - 1))
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if op == "flip":
            body[pos] ^= data.draw(st.integers(1, 255))
        elif op == "insert":
            body.insert(pos, data.draw(st.integers(0, 255)))
        else:
            del body[pos]
    check_decoder(name, bytes(body))


@FUZZ
@given(
    st.sampled_from(["commit", "tag"]),
    st.dictionaries(
        st.sampled_from(
            [
                *("author", "message", "meta", "parents", "roots", "time_ns", "tree"),
                *("version", "name", "object", "tagger", "type", "x"),
            ]
        ),
        json_values,
    ),
)
def test_fuzz_canonical_json_dicts(name: str, value: dict[str, Any]) -> None:
    """Canonical JSON dicts with arbitrary field values never crash a decoder."""
    check_decoder(name, canon(value))
