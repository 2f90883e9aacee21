"""Content-defined chunking: lossless, streaming-equivalent, bounded, and local to edits."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvault.chunking import MAX_SIZE, MIN_SIZE, chunk_bytes, iter_chunks


def random_bytes(seed: int, size: int) -> bytes:
    """Deterministic incompressible bytes (hypothesis draws the seed, not megabytes)."""
    return random.Random(seed).randbytes(size)


def mixed_bytes(seed: int, size: int) -> bytes:
    """Random data interleaved with long constant runs, as real checkpoints have."""
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        n = rng.randrange(1, 300_000)
        out += rng.randbytes(n) if rng.random() < 0.5 else bytes([rng.randrange(256)]) * n
    return bytes(out[:size])


buffers = st.builds(
    lambda gen, seed, size: gen(seed, size),
    st.sampled_from([random_bytes, mixed_bytes]),
    st.integers(min_value=0, max_value=2**32),
    st.one_of(
        st.integers(min_value=0, max_value=MIN_SIZE + 16),
        st.integers(min_value=0, max_value=3 << 20),
    ),
)
FEW = settings(max_examples=25, deadline=None)


def check_bounds(chunks: list[bytes]) -> None:
    """Every chunk but the last lies in [MIN_SIZE, MAX_SIZE]; the last is at most MAX_SIZE."""
    for chunk in chunks[:-1]:
        assert MIN_SIZE <= len(chunk) <= MAX_SIZE, len(chunk)
    if chunks:
        assert 0 < len(chunks[-1]) <= MAX_SIZE


@FEW
@given(buffers)
def test_chunks_concatenate_to_input(data: bytes) -> None:
    """Chunking loses and reorders nothing: the chunks joined are the file."""
    chunks = chunk_bytes(data)
    assert b"".join(chunks) == data
    check_bounds(chunks)
    if not data:
        assert chunks == []


@FEW
@given(buffers)
def test_stream_and_buffer_agree(data: bytes) -> None:
    """Streaming a file cuts it exactly where chunking the buffer does (same ids either way)."""
    streamed = list(iter_chunks(io.BytesIO(data)))
    # kept until the end: each chunk stays valid while later ones are read
    assert [bytes(c) for c in streamed] == chunk_bytes(data)


def test_chunking_is_deterministic() -> None:
    """The same bytes always give the same cut points (otherwise dedup is lost)."""
    data = random_bytes(7, 3 << 20)
    first = chunk_bytes(data)
    assert len(first) > 3
    assert chunk_bytes(data) == first
    assert chunk_bytes(bytes(data)) == first


def test_constant_data_is_cut_at_max_size() -> None:
    """Data without content boundaries (zeros) still gets bounded chunks."""
    chunks = chunk_bytes(bytes(5 << 20))
    assert b"".join(chunks) == bytes(5 << 20)
    check_bounds(chunks)
    assert all(len(c) == MAX_SIZE for c in chunks)


def offsets(chunks: list[bytes]) -> list[tuple[int, bytes]]:
    """(start offset, chunk) for each chunk."""
    out, pos = [], 0
    for chunk in chunks:
        out.append((pos, chunk))
        pos += len(chunk)
    return out


def test_local_edit_changes_few_chunks() -> None:
    """Rewriting 100 KiB in the middle of an 8 MiB file leaves ~90% of its bytes in
    unchanged chunks, so a fine-tuned checkpoint stores only what changed.

    Measured over four fixed seeds (the share varies with where cuts fall: one chunk
    spanning the edit can be large); chunks before the edit keep their offsets and the cut
    points resynchronise within one maximum chunk after it.
    """
    size, edit = 8 << 20, 100 << 10
    shares = []
    for seed in (1234, 1, 2, 3):
        data = random_bytes(seed, size)
        lo, hi = size // 2, size // 2 + edit
        edited = data[:lo] + random_bytes(seed + 99, edit) + data[hi:]
        old, new = offsets(chunk_bytes(data)), offsets(chunk_bytes(edited))
        assert b"".join(c for _, c in new) == edited
        new_set = set(new)
        for start, chunk in old:
            if start + len(chunk) <= lo or start >= hi + MAX_SIZE:
                assert (start, chunk) in new_set, (seed, start)
        before = {c for _, c in old}
        shares.append(sum(len(c) for _, c in new if c in before) / size)
    assert min(shares) >= 0.8, shares
    assert sum(shares) / len(shares) >= 0.88, shares


def test_insertion_shifts_are_absorbed() -> None:
    """Inserting bytes near the start (shifting every offset) keeps most chunks: cuts
    follow content, not offsets."""
    data = random_bytes(5, 6 << 20)
    shifted = data[:1000] + b"inserted!" * 100 + data[1000:]
    before = set(chunk_bytes(data))
    after = chunk_bytes(shifted)
    shared = sum(len(c) for c in after if c in before)
    assert shared >= 0.8 * len(shifted), shared / len(shifted)


@FEW
@given(
    st.sampled_from([random_bytes, mixed_bytes]),
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=0, max_value=9 << 20),
    st.integers(min_value=2 * MAX_SIZE, max_value=3 * MAX_SIZE),
)
def test_stream_cuts_agree_across_read_blocks(
    gen: object, seed: int, size: int, block_size: int
) -> None:
    """Chunks that straddle the blocks the stream is read in are cut as in one buffer:
    the unfinished end of each block is joined with the start of the next."""
    data = gen(seed, size)  # type: ignore[operator]
    streamed = [bytes(c) for c in iter_chunks(io.BytesIO(data), block_size)]
    assert streamed == chunk_bytes(data)


def test_stream_cuts_agree_at_block_edges() -> None:
    """Files that end exactly at, just before and just after a block edge, or within
    MAX_SIZE of one (where the last block is joined whole)."""
    block = 2 * MAX_SIZE
    for size in (block - 1, block, block + 1, 2 * block, 2 * block + MAX_SIZE, 3 * block - 1):
        for data in (random_bytes(size, size), bytes(size), mixed_bytes(size, size)):
            streamed = [bytes(c) for c in iter_chunks(io.BytesIO(data), block)]
            assert streamed == chunk_bytes(data), size


def test_read_block_must_hold_two_chunks() -> None:
    with pytest.raises(ValueError, match="at least"):
        list(iter_chunks(io.BytesIO(b"x"), MAX_SIZE))
