"""Sharded directories: a huge directory is a hash fan-out of shards, so a one-file change
writes O(log n) tree bytes; every reader still sees the one logical directory.

Most tests lower the shard threshold (``threshold=``) so that small stages exercise deep
fan-outs; the format is the same at any threshold.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvault import config as cfg
from dvault.commitobjects import Commit
from dvault.errors import CorruptObject
from dvault.hashing import ObjectId, ObjectType, object_id
from dvault.reachability import walk as reach
from dvault.reachability import walk_tree
from dvault.repo import Repo
from dvault.store.objectstore import ObjectStore
from dvault.store.state import StageEntry
from dvault.treeobjects import (
    MAX_SHARD_DEPTH,
    MODE_DIR,
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    ShardRef,
    Tree,
    TreeEntry,
    TreeFanout,
    TreeShard,
    decode_tree,
    shard_key,
)
from dvault.trees import (
    EMPTY_TREE,
    SHARD_ENTRIES,
    build_from_stage,
    diff_trees,
    find_entry,
    flatten,
    lookup,
    read_node,
    read_tree,
    shard_objects,
    update_tree,
)
from dvault.workspace.safety import UnsafePath
from tests.test_trees import CountingStore, make_store_dir

Stage = dict[bytes, StageEntry]
Built = list[tuple[ObjectId, bytes]]

FANOUT_MAX = 2 + MAX_SHARD_DEPTH + 16 * struct.calcsize(">BIQ32s")
"""The largest fan-out node body: version, depth, prefix, 16 child references."""


def fake_id(i: int) -> ObjectId:
    return ObjectId(i.to_bytes(32, "big"))


def file(i: int, mode: int = MODE_FILE) -> StageEntry:
    return StageEntry(mode, i % 1000, fake_id(i))


def big_dir(n: int, directory: bytes = b"images") -> Stage:
    return {directory + f"/{i:07d}.jpg".encode(): file(i) for i in range(n)}


def store_all(store: ObjectStore, objects: Built) -> None:
    with store.writer() as w:
        for oid, body in objects:
            if not w.has(oid):
                assert w.put_raw(ObjectType.TREE, body) == oid


def write(store: ObjectStore, stage: Mapping[bytes, StageEntry], threshold: int | None) -> bytes:
    root, objects = build_from_stage(stage, threshold)
    store_all(store, objects)
    return root


def as_leaves(stage: Mapping[bytes, StageEntry]) -> dict[bytes, tuple[int, int, bytes]]:
    return {p: (e.mode, e.size, e.id) for p, e in stage.items()}


def leaves(store: ObjectStore, root: bytes) -> dict[bytes, tuple[int, int, bytes]]:
    return {p: (e.mode, e.size, e.id) for p, e in flatten(store, root).items()}


@pytest.fixture
def cstore(tmp_path: Path) -> Iterator[CountingStore]:
    s = CountingStore(make_store_dir(tmp_path / "cstore"))
    try:
        yield s
    finally:
        s.close()


# -- compatibility ------------------------------------------------------------------------


def test_small_trees_keep_their_encoding_and_ids() -> None:
    """Directories up to the threshold are the plain trees dvault always wrote: the ids
    below were computed by dvault before sharding existed."""
    blob = lambda text: object_id(ObjectType.BLOB, text.encode())  # noqa: E731
    small = {
        b"data/train/cat/001.png": StageEntry(MODE_FILE, 4, blob("cat1")),
        b"data/train/empty": StageEntry(MODE_DIR, 0, EMPTY_TREE),
        b"data/labels.csv": StageEntry(MODE_FILE, 6, blob("labels")),
        b"run.sh": StageEntry(MODE_EXEC, 2, blob("#!")),
        b"latest": StageEntry(MODE_LINK, 4, blob("data")),
    }
    assert build_from_stage(small)[0].hex() == (
        "cdb0d09beb960201d62a4e938734e7802dc50f1aa92fdc7d36df5e43a36888ca"
    )
    at_threshold = {
        f"big/{i:05d}.png".encode(): StageEntry(MODE_FILE, len(str(i)), blob(str(i)))
        for i in range(SHARD_ENTRIES)
    }
    assert build_from_stage(at_threshold)[0].hex() == (
        "108cd18c7600b45bfef96904d50b4975e1b63b0eacbb253bb67ca79ce72ef96a"
    )
    root, objects = build_from_stage({**at_threshold, b"big/one-more": file(1)})
    nodes = {oid: decode_tree(body) for oid, body in objects}
    big = next(e for e in nodes[root].entries if e.name == b"big")  # type: ignore[union-attr]
    assert isinstance(nodes[big.id], TreeFanout)


# -- the O(log n) bound -------------------------------------------------------------------


def one_change_bytes(n: int, threshold: int | None = None) -> tuple[int, int, Built]:
    """Bytes of new tree objects when one file of an ``n``-entry directory changes, the
    size of the same directory as one plain tree, and the new objects."""
    stage = big_dir(n)
    _, before = build_from_stage(stage, threshold)
    stage[b"images/%07d.jpg" % (n // 3)] = file(n + 1)
    _, after = build_from_stage(stage, threshold)
    old = {oid for oid, _ in before}
    new = [(oid, body) for oid, body in after if oid not in old]
    monolithic = 1 + sum(46 + len(p) - len(b"images/") for p in stage)
    return sum(len(body) for _, body in new), monolithic, new


def test_one_change_in_a_200k_entry_directory_writes_log_n_tree_bytes(store: ObjectStore) -> None:
    """200,000 entries in one directory: a one-file change writes a few fan-out nodes
    and one shard — within (levels · fan-out node + one full shard + the parent tree),
    and hundreds of times less than rewriting the directory as one tree. The incremental
    update (what add/commit use) writes exactly the same objects."""
    n = 200_000
    written, monolithic, new = one_change_bytes(n)
    levels = math.ceil(math.log(n / SHARD_ENTRIES, 16))  # fan-out levels above the shards
    shard_max = 2 + MAX_SHARD_DEPTH + SHARD_ENTRIES * (46 + len(b"0000000.jpg"))
    parent = 1 + 46 + len(b"images")
    assert written <= levels * FANOUT_MAX + shard_max + parent
    assert written * 100 < monolithic
    kinds = [type(decode_tree(body)).__name__ for _, body in new]
    assert sorted(kinds) == sorted(["Tree"] + ["TreeFanout"] * levels + ["TreeShard"])

    stage = big_dir(n)
    root = write(store, stage, None)
    path = b"images/%07d.jpg" % (n // 3)
    new_root, incremental = update_tree(store, root, {path: file(n + 1)})
    assert {oid for oid, _ in incremental} == {oid for oid, _ in new}
    assert new_root == build_from_stage({**stage, path: file(n + 1)})[0]


@pytest.mark.parametrize("threshold", [4, 16])
def test_tree_bytes_per_change_grow_with_log_n(threshold: int) -> None:
    """At a low threshold (deep fan-outs), bytes per one-file change stay within a
    constant times log16(n) for n from 100 to 40,000, while the plain tree grows as n."""
    for n in (100, 1_000, 10_000, 40_000):
        written, monolithic, _ = one_change_bytes(n, threshold)
        shard_max = 2 + MAX_SHARD_DEPTH + threshold * (46 + 11)
        bound = (math.log(n, 16) + 2) * (FANOUT_MAX + shard_max)
        assert written <= bound, (n, written, bound)
    assert written * 20 < monolithic


# -- round trips --------------------------------------------------------------------------

names = st.integers(0, 400).map(lambda i: b"f%d" % i)
dirs = st.sampled_from([b"", b"d/", b"d/sub/", b"e/"])
leaf_entries = st.one_of(
    st.builds(file, st.integers(0, 3), st.sampled_from([MODE_FILE, MODE_EXEC, MODE_LINK])),
    st.just(StageEntry(MODE_DIR, 0, EMPTY_TREE)),
)
paths = st.builds(lambda d, n: d + n, dirs, names)


def consistent(stage: Stage) -> Stage:
    """Drop paths that would be both a leaf and a directory (the stage never has those)."""
    prefixes = {p[:i] for p in stage for i in range(len(p)) if p[i : i + 1] == b"/"}
    return {p: e for p, e in stage.items() if p not in prefixes}


stages = st.dictionaries(paths, leaf_entries, max_size=90).map(consistent)
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(
    a=stages,
    changes=st.dictionaries(paths, st.one_of(st.none(), leaf_entries), max_size=30),
    threshold=st.integers(1, 8),
)
def test_property_sharded_round_trip_update_and_diff(
    tmp_path_factory: pytest.TempPathFactory,
    a: Stage,
    changes: dict[bytes, StageEntry | None],
    threshold: int,
) -> None:
    """For random stages and thresholds: flatten(build(s)) == s; the id does not depend
    on insertion order; the incremental update after random edits gives exactly the id a
    full build of the edited stage gives (one canonical shape); diff equals the naive
    dictionary diff."""
    after = dict(a)
    for path, entry in changes.items():
        if entry is None:
            after.pop(path, None)
        else:
            after[path] = entry
    after = consistent(after)
    edits = {p: after.get(p) for p in a.keys() | after.keys() if a.get(p) != after.get(p)}
    store = ObjectStore(make_store_dir(tmp_path_factory.mktemp("fan")))
    try:
        ra = write(store, a, threshold)
        assert leaves(store, ra) == as_leaves(a)
        assert build_from_stage(dict(reversed(list(a.items()))), threshold)[0] == ra
        rb, made = update_tree(store, ra, edits, threshold)
        assert rb == build_from_stage(after, threshold)[0]
        store_all(store, made)
        assert leaves(store, rb) == as_leaves(after)
        got = list(diff_trees(store, ra, rb))
        assert [c.path for c in got] == sorted(
            (c.path for c in got), key=lambda p: p.split(b"/")
        ), "changes come in tree order"
        assert {c.path for c in got} == {
            p
            for p in a.keys() | after.keys()
            if p not in a or p not in after or (a[p].mode, a[p].id) != (after[p].mode, after[p].id)
        }
        for c in got:
            assert (c.old is None) == (c.path not in a)
            assert (c.new is None) == (c.path not in after)
    finally:
        store.close()


def test_reading_a_sharded_directory(store: ObjectStore) -> None:
    """read_tree, lookup and find_entry see one directory, whatever its shape."""
    stage = big_dir(3000, b"a/b")
    root = write(store, stage, 8)
    b = lookup(store, root, b"a/b")
    assert b is not None and b.is_dir and b.size == sum(e.size for e in stage.values())
    assert isinstance(read_node(store, b.id), TreeFanout)
    listing = read_tree(store, b.id).entries
    assert [e.name for e in listing] == sorted(p.rpartition(b"/")[2] for p in stage)
    hit = find_entry(store, b.id, b"0002999.jpg")
    assert hit is not None and hit.id == fake_id(2999)
    assert find_entry(store, b.id, b"nope") is None
    assert lookup(store, root, b"a/b/0000007.jpg") == TreeEntry(
        b"0000007.jpg", MODE_FILE, 7, fake_id(7)
    )
    assert lookup(store, root, b"a/b/0000007.jpg/x") is None


def test_diff_of_one_change_reads_only_the_shards_on_its_path(cstore: CountingStore) -> None:
    """status/diff/checkout plan cost: a one-file change in a sharded directory reads the
    root, the directory's fan-out nodes and one shard on each side, nothing else."""
    n, threshold = 20_000, 16
    stage = big_dir(n)
    a = write(cstore, stage, threshold)
    path = b"images/0004242.jpg"
    b = write(cstore, {**stage, path: file(n + 5)}, threshold)
    images = lookup(cstore, a, b"images")
    assert images is not None
    total = sum(1 for _ in shard_objects(cstore, images.id))
    cstore.reads.clear()
    got = list(diff_trees(cstore, a, b))
    assert [(c.path, c.status) for c in got] == [(path, "modified")]
    levels = math.ceil(math.log(n / threshold, 16)) + 1  # fan-out nodes, then one shard
    assert len(cstore.reads) <= 2 * (1 + levels + 1)
    assert total > 50 * len(cstore.reads)
    cstore.reads.clear()
    assert lookup(cstore, b, path) is not None
    assert len(cstore.reads) <= 1 + levels + 1


def test_a_plain_tree_over_the_threshold_still_reads_and_diffs(store: ObjectStore) -> None:
    """A big directory written before sharding (one plain tree) stays valid; an edit in it
    re-shapes it canonically, and diff between the two shapes reports only real changes."""
    stage = big_dir(500)
    legacy = write(store, stage, 10**9)
    assert isinstance(read_node(store, lookup(store, legacy, b"images").id), Tree)  # type: ignore[union-attr]
    assert leaves(store, legacy) == as_leaves(stage)
    sharded = write(store, stage, 8)
    assert sharded != legacy and list(diff_trees(store, legacy, sharded)) == []
    path = b"images/0000001.jpg"
    root, made = update_tree(store, legacy, {path: None}, 8)
    del stage[path]
    assert root == build_from_stage(stage, 8)[0]
    store_all(store, made)
    assert [(c.path, c.status) for c in diff_trees(store, legacy, root)] == [(path, "deleted")]
    assert [(c.path, c.status) for c in diff_trees(store, root, sharded)] == [(path, "added")]


def test_shrinking_below_the_threshold_returns_to_a_plain_tree(store: ObjectStore) -> None:
    """Deleting entries until a sharded directory fits the threshold gives the plain tree
    (the id a directory of that content always had)."""
    stage = big_dir(12)
    root = write(store, stage, 8)
    doomed = {p: None for p in list(stage)[:5]}
    new_root, _ = update_tree(store, root, doomed, 8)
    rest = {p: e for p, e in stage.items() if p not in doomed}
    assert new_root == build_from_stage(rest, 8)[0] == build_from_stage(rest)[0]
    everything, _ = update_tree(store, root, dict.fromkeys(stage), 8)
    assert everything == EMPTY_TREE


def test_reachability_walks_every_shard(store: ObjectStore) -> None:
    """push, fetch, verify and gc walk shards like any tree: all of them are reachable."""
    stage = big_dir(2000)
    root = write(store, stage, 8)
    found = walk_tree(store.get_raw, lambda _oid: ObjectType.BLOB, root)
    shards = set(shard_objects(store, lookup(store, root, b"images").id))  # type: ignore[union-attr]
    assert len(shards) > 100 and shards <= set(found.objects)
    assert {oid for oid, kind in found.objects.items() if kind == ObjectType.BLOB} == {
        e.id for e in stage.values()
    }


# -- hostile shard nodes ------------------------------------------------------------------

ENTRY = struct.Struct(">IQ32sH")
REF = struct.Struct(">BIQ32s")


def entry_bytes(name: bytes, size: int = 1) -> bytes:
    return ENTRY.pack(MODE_FILE, size, fake_id(1), len(name)) + name


def name_in(prefix: bytes, avoid: bytes = b"") -> bytes:
    """A name whose shard key starts with ``prefix`` (and does not start with ``avoid``)."""
    i = 0
    while True:
        name = b"n%d" % i
        key = shard_key(name)
        if key.startswith(prefix) and not (avoid and key.startswith(avoid)):
            return name
        i += 1


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"\x03\x01a" + entry_bytes(name_in(b"b")), "foreign name"),
        (b"\x03\x00" + entry_bytes(b"x"), "depth 0"),
        (b"\x03\x09" + b"0" * 9 + entry_bytes(b"x"), "depth 9"),
        (b"\x03\x01a", "empty"),
        (b"\x03\x01A" + entry_bytes(name_in(b"a")), "hex"),
        (b"\x03\x02a", "prefix"),
        (b"\x02\x00", "missing"),
        (b"\x02\x00" + REF.pack(3, 1, 1, fake_id(1))[:-1], "truncated"),
        (b"\x02\x00" + REF.pack(16, 1, 1, fake_id(1)), "0..15"),
        (b"\x02\x00" + REF.pack(3, 1, 1, fake_id(1)) + REF.pack(3, 1, 1, fake_id(2)), "unique"),
        (b"\x02\x00" + REF.pack(5, 1, 1, fake_id(1)) + REF.pack(3, 1, 1, fake_id(2)), "sorted"),
        (b"\x02\x00" + REF.pack(3, 0, 0, fake_id(1)), "empty child"),
        (b"\x02\x08" + b"0" * 8 + REF.pack(3, 1, 1, fake_id(1)), "depth 8"),
        (b"\x02\x01g" + REF.pack(3, 1, 1, fake_id(1)), "hex"),
        (b"\x04\x00", "unknown version"),
    ],
    ids=[
        "foreign-name",
        "shard-depth-0",
        "shard-too-deep",
        "empty-shard",
        "uppercase-prefix",
        "short-prefix",
        "no-children",
        "truncated-ref",
        "bucket-16",
        "duplicate-bucket",
        "unsorted-buckets",
        "empty-child",
        "fanout-too-deep",
        "non-hex-prefix",
        "unknown-version",
    ],
)
def test_malformed_shard_nodes_do_not_decode(body: bytes, match: str) -> None:
    with pytest.raises(CorruptObject, match=match):
        decode_tree(body)


def put_nodes(store: ObjectStore, *nodes: Tree | TreeShard | TreeFanout) -> list[ObjectId]:
    with store.writer() as w:
        return [w.put(node) for node in nodes]


def directory_with(store: ObjectStore, child: Tree | TreeShard | TreeFanout) -> bytes:
    """A root tree whose directory ``d`` is ``child`` (maybe something that is no
    directory at all)."""
    (cid,) = put_nodes(store, child)
    size = child.size
    (root,) = put_nodes(store, Tree((TreeEntry(b"d", MODE_DIR, size, cid),)))
    return root


def fanout_of(store: ObjectStore, child: Tree | TreeShard | TreeFanout, bucket: int) -> TreeFanout:
    (cid,) = put_nodes(store, child)
    count = len(child.entries) if not isinstance(child, TreeFanout) else child.count
    return TreeFanout(b"", (ShardRef(bucket, count, child.size, cid),))


def refused_everywhere(store: ObjectStore, root: bytes, match: str, name: bytes) -> None:
    """Every reader refuses the tree: flatten, lookup of ``d/name``, diff, and the
    reachability walk that push, fetch, verify and gc share."""
    for read in (
        lambda: flatten(store, root),
        lambda: lookup(store, root, b"d/" + name),
        lambda: list(diff_trees(store, None, root)),
        lambda: walk_tree(store.get_raw, lambda _oid: ObjectType.BLOB, root),
    ):
        with pytest.raises(CorruptObject, match=match):
            read()


def test_a_shard_is_never_a_directory(store: ObjectStore) -> None:
    """A directory entry (or a commit) naming a shard leaf or an inner fan-out node is
    refused: a shard is part of some directory, not one itself."""
    name = name_in(b"7")
    leaf = TreeShard(b"7", (TreeEntry(name, MODE_FILE, 1, fake_id(1)),))
    refused_everywhere(store, directory_with(store, leaf), "shard|not a tree", name)
    inner = TreeFanout(b"7", fanout_of(store, leaf, 7).children)
    refused_everywhere(store, directory_with(store, inner), "shard|not a tree", name)


def test_a_fanout_child_must_be_the_shard_it_claims(store: ObjectStore) -> None:
    """A fan-out whose child is a plain tree, another bucket's shard, a node at the wrong
    depth, or a shard holding other counts than its reference says, is refused."""
    x = name_in(b"3")
    plain = Tree((TreeEntry(x, MODE_FILE, 1, fake_id(1)),))
    shard3 = TreeShard(b"3", plain.entries)
    deeper = TreeShard(shard_key(x)[:2], plain.entries)
    children: list[tuple[int, Tree | TreeShard]] = [(3, plain), (4, shard3), (3, deeper)]
    for bucket, child in children:
        root = directory_with(store, fanout_of(store, child, bucket))
        routed_there = name_in(b"%x" % bucket)  # lookup reads only the shard a name hashes to
        refused_everywhere(store, root, "is not the shard|not a tree", routed_there)
    (sid,) = put_nodes(store, shard3)
    for count, size in [(2, 1), (1, 99)]:
        lying = TreeFanout(b"", (ShardRef(3, count, size, sid),))
        refused_everywhere(store, directory_with(store, lying), "its parent records", x)


def test_checkout_refuses_a_commit_whose_directory_is_a_shard(repo: Repo) -> None:
    """A forged commit naming a shard where a directory belongs fails before writing."""
    (repo.root / "data").mkdir()
    (repo.root / "data" / "a.txt").write_bytes(b"alpha\n")
    repo.add([repo.root / "data"])
    repo.commit("base")
    name = name_in(b"c")
    with repo.store.writer() as w:
        oid = w.put_raw(ObjectType.BLOB, b"pwned")
        shard = w.put(TreeShard(b"c", (TreeEntry(name, MODE_FILE, 5, oid),)))
        root = w.put(Tree((TreeEntry(b"data", MODE_DIR, 5, shard),)))
        _, head = repo.refs.head()
        commit = w.put(Commit(root, (head,), "M <m@x>", 1, "forged", {"data": "dataset"}))  # type: ignore[arg-type]
    repo.refs.update("refs/heads/evil", commit, "forged")
    with pytest.raises(CorruptObject, match="shard"):
        repo.checkout("evil")
    assert not (repo.root / "data" / name.decode()).exists()
    with pytest.raises(CorruptObject):
        reach(repo.store.get_raw, repo.store.type_of, [commit])


def set_case_insensitive(repo: Repo, value: bool) -> None:
    """This clone's setting (``.dvault/config.local``: the committed config may not set
    ``false``)."""
    config = cfg.load(repo.dir / cfg.LOCAL_FILE)
    config.setdefault("checkout", {})["case-insensitive"] = value
    cfg.save(repo.dir / cfg.LOCAL_FILE, config)
    repo.__dict__.pop("config", None)


def test_case_collisions_are_found_across_shards(repo: Repo) -> None:
    """On a case-insensitive work tree, two names the file system would merge are refused
    even when they sit in different shards of a sharded directory."""
    (repo.root / "data").mkdir()
    (repo.root / "data" / "a.txt").write_bytes(b"alpha\n")
    repo.add([repo.root / "data"])
    repo.commit("base")
    with repo.store.writer() as w:
        one = w.put_raw(ObjectType.BLOB, b"1")
        stage = {b"data/f%05d" % i: StageEntry(MODE_FILE, 1, one) for i in range(SHARD_ENTRIES)}
        stage[b"data/Label.txt"] = stage[b"data/label.txt"] = StageEntry(MODE_FILE, 1, one)
        assert shard_key(b"Label.txt")[:1] != shard_key(b"label.txt")[:1]
        root, objects = build_from_stage(stage)
        for _oid, body in objects:
            w.put_raw(ObjectType.TREE, body)
        _, head = repo.refs.head()
        commit = w.put(Commit(root, (head,), "M <m@x>", 1, "forged", {"data": "dataset"}))  # type: ignore[arg-type]
    assert isinstance(read_node(repo.store, lookup(repo.store, root, b"data").id), TreeFanout)  # type: ignore[union-attr]
    repo.refs.update("refs/heads/evil", commit, "forged")
    set_case_insensitive(repo, True)  # what the probe finds on macOS and Windows
    with pytest.raises(UnsafePath, match=r"Label\.txt and data/label\.txt"):
        repo.checkout("evil")
    assert not (repo.root / "data" / "f00000").exists()
    set_case_insensitive(repo, False)
    repo.checkout("evil")
    assert (repo.root / "data" / "Label.txt").exists() and (repo.root / "data" / "f01023").exists()


def test_add_rebuilds_the_whole_stage_tree_when_the_old_one_is_unreadable(repo: Repo) -> None:
    """add updates the stage's tree from the paths it changed; if that tree is missing
    (a damaged store), it falls back to building every tree from the stage."""
    (repo.root / "data").mkdir()
    (repo.root / "data" / "a.txt").write_bytes(b"alpha\n")
    repo.add([repo.root / "data"])
    repo.state.update_stage(tree=fake_id(99))  # a tree the store does not have
    (repo.root / "data" / "b.txt").write_bytes(b"bravo\n")
    repo.add([repo.root / "data"])
    tree = repo.state.stage_tree()
    assert tree == build_from_stage(repo.state.stage())[0]
    assert set(flatten(repo.store, tree)) == {b"data/a.txt", b"data/b.txt"}
