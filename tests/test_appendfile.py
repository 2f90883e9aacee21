"""AppendFile: every byte lands in order, with O_DIRECT where the file system allows it
and through the page cache where it does not (tmpfs below 6.6, ramfs, network file
systems), across buffer edges and with the unaligned tail written last."""

from __future__ import annotations

import fcntl
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dvault.store.appendfile import AppendFile

BUFFER = 8192  # small, so the writes below cross many buffer edges


def supports_direct(directory: Path) -> bool:
    """Whether the file system under ``directory`` accepts O_DIRECT (asked directly)."""
    if not hasattr(os, "O_DIRECT"):
        return False
    probe = directory / "probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
    except OSError:
        return False
    finally:
        os.close(fd)
        probe.unlink()
    return True


def write_pieces(
    path: Path, sizes: list[int], seed: int, background: bool = False
) -> tuple[bytes, bool]:
    """Append pieces of the given sizes (bytes and memoryviews); returns what was written
    and whether the file was being written with O_DIRECT before the tail. With
    ``background`` the buffers are written on the writer thread, and what it hands to
    ``seen`` must be every byte, in order."""
    rng = random.Random(seed)
    seen = bytearray()
    out = AppendFile(path, BUFFER, background=background, seen=seen.extend)
    expected = bytearray()
    for i, size in enumerate(sizes):
        piece = rng.randbytes(size)
        out.write(memoryview(piece) if i % 2 else piece)
        expected += piece
    direct = out.direct
    out.finish()
    assert seen == expected
    return bytes(expected), direct


SIZES = [
    [],
    [0, 1, 2, 3],
    [BUFFER],
    [BUFFER - 1, 1, BUFFER + 1],
    [5 * BUFFER + 17],
    [100, 4096, 4095, 4097, 3 * BUFFER, 9, 0, 65536 + 3],
]


@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("sizes", SIZES)
def test_bytes_land_in_order(tmp_path: Path, sizes: list[int], background: bool) -> None:
    path = tmp_path / "out.pack"
    expected, direct = write_pieces(path, sizes, sum(sizes), background)
    assert path.read_bytes() == expected
    assert direct == supports_direct(tmp_path)  # whole buffers really skipped the cache


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    """A pack's temporary name is new: an existing file is an error, never truncated."""
    path = tmp_path / "out.pack"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        AppendFile(path)
    assert path.read_bytes() == b"keep"


@pytest.mark.parametrize("background", [False, True])
def test_close_without_finish_keeps_no_promise(tmp_path: Path, background: bool) -> None:
    """An aborted writer releases its descriptor; the caller deletes the file."""
    path = tmp_path / "out.pack"
    out = AppendFile(path, BUFFER, background=background)
    out.write(b"x" * 5)
    out.close()
    out.close()  # idempotent, as abort paths call it again
    assert path.stat().st_size == 0  # still buffered: dropped, never half-written


def test_a_failed_background_write_is_raised_to_the_writer(tmp_path: Path) -> None:
    """A write that fails on the writer thread (here: its descriptor closed under it) is
    raised by the next write or by finish, never lost: a pack is not sealed over it."""
    out = AppendFile(tmp_path / "out.pack", BUFFER, background=True)
    os.close(out.fd)  # every later write fails with EBADF
    with pytest.raises(OSError):
        for _ in range(4):
            out.write(b"y" * BUFFER)
        out.finish()
    out.fd = -1  # already closed above
    out.close()


@pytest.fixture
def ramfs(tmp_path: Path) -> Iterator[Path]:
    """A ramfs mount: a real file system that refuses O_DIRECT (needs root)."""
    mount_point = tmp_path / "ramfs"
    mount_point.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "ramfs", "ramfs", str(mount_point)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        pytest.skip(f"needs mount: {exc}")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a ramfs (root needed): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_file_system_without_direct_io(ramfs: Path) -> None:
    """Where O_DIRECT is refused at open, the same bytes go through the page cache."""
    if supports_direct(ramfs):
        pytest.skip("this kernel's ramfs accepts O_DIRECT")
    path = ramfs / "out.pack"
    expected, direct = write_pieces(path, SIZES[-1], 7)
    assert not direct
    assert path.read_bytes() == expected
