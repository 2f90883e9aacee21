"""Client-side encryption of a remote: a :class:`Backend` that wraps any other backend.

Push, fetch, the catalog and the ref log above it see plaintext names, contents and
sizes; the storage below sees only ciphertext. Everything is encrypted except the marker
``dvault-remote.json`` and the key slots ``keys/`` (see :mod:`dvault.remote.keys`).

**Contents** are a segmented AEAD stream (the STREAM construction): a 40-byte header
(``DVLTENC1`` + a random 32-byte salt), then the plaintext in 64 KiB segments, each sealed
with AES-256-GCM and followed by its 16-byte tag. Each file has its own key,
HKDF(data key, salt, info = its plaintext name), so a file moved to another name does not
decrypt, and nonces (segment counter + a final-segment flag) never repeat under one key.
A dropped, reordered, truncated or extended segment fails authentication. Fixed segments
keep range reads cheap (decrypt only the segments a range touches) and make the plaintext
size a function of the ciphertext size, so ``list`` reports plaintext sizes without reads.

**Names** under ``packs/`` (content hashes) are encrypted deterministically with AES-SIV
(the directory is authenticated too) and hex-encoded, so the same pack always gets the
same stored name (create-only writes and resumed pushes keep working) and ``list`` maps
stored names back; names that do not decrypt are not ours and are skipped. Ref-log entries
keep their names (``refs/log/<seq>.json``: a counter, not derived from content).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from dvault.errors import StorageError
from dvault.remote.backend import (
    Backend,
    DecryptionFailed,
    Progress,
    RemoteNotFound,
    Retention,
)
from dvault.remote.keys import SEGMENT, SLOT_PREFIX, RepoKeys, _hkdf
from dvault.remote.marker import MARKER

MAGIC = b"DVLTENC1"
HEADER = len(MAGIC) + 32
TAG = 16
CSEGMENT = SEGMENT + TAG
PLAIN_NAMES = "refs/log/"
BLOCK = 128
"""Segments per request when streaming a download (8 MiB)."""


def cipher_size(plain: int) -> int:
    """Stored size of a ``plain``-byte file (an empty file is one empty final segment)."""
    return HEADER + plain + TAG * max(1, -(-plain // SEGMENT))


def segment_count(stored: int) -> int | None:
    """Segments of a stored file of this size, None when no encoder makes that size."""
    body = stored - HEADER
    if body < TAG:
        return None
    count = -(-body // CSEGMENT)
    last = body - (count - 1) * CSEGMENT
    if last < TAG or (count > 1 and last == TAG):
        return None
    return count


def plain_size(stored: int) -> int:
    """The plaintext size a stored size stands for (a best guess for impossible sizes:
    reading such a file then fails with :class:`DecryptionFailed`)."""
    count = segment_count(stored)
    if count is None:
        count = max(1, -(-(stored - HEADER) // CSEGMENT))
    return max(0, stored - HEADER - TAG * count)


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _passthrough(key: str) -> bool:
    return key == MARKER or key.startswith(SLOT_PREFIX)


class EncryptedBackend(Backend):
    """Encrypts what it stores in ``inner``; see the module docstring for the format."""

    def __init__(self, inner: Backend, keys: RepoKeys, tmp_dir: Path | None = None) -> None:
        # deferred: cryptography, ~30 ms to import
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV

        self.inner = inner
        self.keys = keys
        self.url = inner.url
        self.tmp_dir = tmp_dir
        self._siv = AESSIV(keys.names)
        self._stored_sizes: dict[str, int] = {}  # stored name -> size (files never change)
        self._files: dict[str, tuple[bytes, Any]] = {}  # name -> (header, its AES-GCM)

    def describe(self) -> str:
        return self.inner.describe()

    def lock(self) -> str:
        return self.inner.lock() + " (client-side encrypted)"

    def retention(self, key: str) -> Retention | None:
        return self.inner.retention(self.stored_name(key))

    # -- names ----------------------------------------------------------------------------

    def stored_name(self, key: str) -> str:
        """The name ``key`` is stored under on the remote."""
        if _passthrough(key) or key.startswith(PLAIN_NAMES):
            return key
        parent, _, base = key.rpartition("/")
        sealed = self._siv.encrypt(base.encode(), [b"dvault-remote v1 name", parent.encode()])
        return f"{parent}/{sealed.hex()}" if parent else sealed.hex()

    def _plain_name(self, stored: str) -> str | None:
        from cryptography.exceptions import InvalidTag  # deferred: cryptography, ~30 ms to import

        if _passthrough(stored) or stored.startswith(PLAIN_NAMES):
            return stored
        parent, _, base = stored.rpartition("/")
        try:
            base = self._siv.decrypt(
                bytes.fromhex(base), [b"dvault-remote v1 name", parent.encode()]
            ).decode()
        except (ValueError, InvalidTag, UnicodeDecodeError):
            return None  # not a name of ours (another key, or a stray file)
        return f"{parent}/{base}" if parent else base

    # -- the stream format ----------------------------------------------------------------

    def _bad(self, key: str, stored: str, what: str) -> DecryptionFailed:
        shown = stored if stored == key else f"{stored[: stored.rfind('/') + 25]}..."
        return DecryptionFailed(
            f"remote {self.describe()}: {key} (stored as {shown}) {what}: it was altered, "
            "truncated or damaged on the remote"
        )

    def _file(
        self, key: str, stored: str, header: bytes, remember: bool = True
    ) -> tuple[bytes, Any]:
        # deferred: cryptography, ~30 ms to import
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(header) != HEADER or header[: len(MAGIC)] != MAGIC:
            raise self._bad(key, stored, "has no encryption header")
        file_key = _hkdf(
            self.keys.data, b"dvault-remote v1 file\x00" + key.encode(), 32, header[len(MAGIC) :]
        )
        found = (header, AESGCM(file_key))
        if remember:
            self._files[key] = found
        return found

    def _count(self, key: str, stored: str, size: int) -> int:
        count = segment_count(size)
        if count is None:
            raise self._bad(key, stored, f"has an impossible size ({size} bytes)")
        return count

    def _open(
        self, key: str, stored: str, file: tuple[bytes, Any], first: int, count: int, blob: Any
    ) -> bytearray:
        """Decrypt consecutive segments ``first``... of a ``count``-segment file."""
        from cryptography.exceptions import InvalidTag  # deferred: cryptography, ~30 ms to import

        header, aead = file
        view = memoryview(blob)
        out = bytearray()
        for j in range(-(-len(view) // CSEGMENT)):
            index = first + j
            try:
                out += aead.decrypt(
                    _nonce(index, index == count - 1),
                    view[j * CSEGMENT : (j + 1) * CSEGMENT],
                    header,
                )
            except InvalidTag:
                raise self._bad(
                    key, stored, f"failed authentication at segment {index} of {count}"
                ) from None
        return out

    def _seal(self, key: str, chunks: Any, size: int, write: Any) -> None:
        """Encrypt ``size`` plaintext bytes (an iterator of segment-sized pieces)."""
        header = MAGIC + secrets.token_bytes(32)
        # not remembered: if the name turns out to exist, the stored file has another salt
        _, aead = self._file(key, key, header, remember=False)
        write(header)
        count = max(1, -(-size // SEGMENT))
        for index in range(count):
            piece = next(chunks, b"")
            expected = min(SEGMENT, size - index * SEGMENT)
            if len(piece) != expected:
                raise StorageError(f"{key} changed size while it was being encrypted")
            write(aead.encrypt(_nonce(index, index == count - 1), piece, header))

    def _stored_size(self, key: str, stored: str) -> int:
        size = self._stored_sizes.get(stored)
        if size is None:
            size = self.inner.size(stored)
            if size is None:
                raise RemoteNotFound(f"remote {self.describe()}: {key} is missing")
            self._stored_sizes[stored] = size
        return size

    # -- the Backend interface ------------------------------------------------------------

    def create(self, key: str, data: bytes) -> None:
        if _passthrough(key):
            self.inner.create(key, data)
            return
        view = memoryview(data)
        pieces = (view[i : i + SEGMENT] for i in range(0, max(1, len(data)), SEGMENT))
        out = bytearray()
        self._seal(key, pieces, len(data), out.extend)
        self.inner.create(self.stored_name(key), bytes(out))

    def upload(self, key: str, path: Path, progress: Progress | None = None) -> None:
        """Encrypt into a temporary file (streamed, 4 MiB at a time), then upload that."""
        if _passthrough(key):
            self.inner.upload(key, path, progress)
            return
        fd, tmp_name = tempfile.mkstemp(suffix=".enc.tmp", dir=self.tmp_dir)
        tmp = Path(tmp_name)
        try:
            with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
                size = os.fstat(src.fileno()).st_size

                def pieces() -> Any:
                    while block := src.read(SEGMENT * 64):
                        view = memoryview(block)
                        for i in range(0, len(view), SEGMENT):
                            yield view[i : i + SEGMENT]

                self._seal(key, pieces(), size, dst.write)
            stored_total = cipher_size(size)

            def scaled(n: int) -> None:  # report plaintext bytes, as the caller counts them
                if progress is not None:
                    progress(n * size // stored_total)

            self.inner.upload(self.stored_name(key), tmp, scaled)
        except OSError as exc:
            raise StorageError(f"cannot encrypt {path} for upload: {exc.strerror}") from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def read(self, key: str, limit: int) -> bytes:
        if _passthrough(key):
            return self.inner.read(key, limit)
        stored = self.stored_name(key)
        blob = self.inner.read(stored, cipher_size(limit))
        count = self._count(key, stored, len(blob))
        file = self._file(key, stored, blob[:HEADER])
        return bytes(self._open(key, stored, file, 0, count, memoryview(blob)[HEADER:]))

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        if _passthrough(key):
            return self.inner.read_range(key, offset, length)
        stored = self.stored_name(key)
        size = self._stored_size(key, stored)
        count = self._count(key, stored, size)
        plain = size - HEADER - TAG * count
        end = min(plain, offset + length)
        if offset < 0 or end <= offset:
            return b""
        first, last = offset // SEGMENT, (end - 1) // SEGMENT
        start, stop = HEADER + first * CSEGMENT, min(size, HEADER + (last + 1) * CSEGMENT)
        file = self._files.get(key)
        if file is not None:
            blob: Any = self.inner.read_exact(stored, start, stop - start)
        elif first == 0:  # one request for the header and the segments
            whole = self.inner.read_exact(stored, 0, stop)
            file = self._file(key, stored, whole[:HEADER])
            blob = memoryview(whole)[HEADER:]
        else:
            file = self._file(key, stored, self.inner.read_exact(stored, 0, HEADER))
            blob = self.inner.read_exact(stored, start, stop - start)
        data = self._open(key, stored, file, first, count, blob)
        skip = offset - first * SEGMENT
        return bytes(memoryview(data)[skip : skip + end - offset])  # one copy, not two

    def download(
        self, key: str, dest: Path, progress: Progress | None = None, *, limit: int
    ) -> None:
        """Stream-decrypt into ``dest``, 8 MiB of segments per range read."""
        if _passthrough(key):
            self.inner.download(key, dest, progress, limit=limit)
            return
        stored = self.stored_name(key)
        size = self.inner.size(stored)
        if size is None:
            raise RemoteNotFound(f"remote {self.describe()}: {key} is missing")
        if plain_size(size) > limit:
            raise self.too_large(key, plain_size(size), limit)
        count = self._count(key, stored, size)
        file = self._file(key, stored, self.inner.read_exact(stored, 0, HEADER))
        try:
            with open(dest, "xb") as out:
                for first in range(0, count, BLOCK):
                    start = HEADER + first * CSEGMENT
                    stop = min(size, start + BLOCK * CSEGMENT)
                    blob = self.inner.read_exact(stored, start, stop - start)
                    data = self._open(key, stored, file, first, count, blob)
                    out.write(data)
                    if progress is not None:
                        progress(len(data))
        except OSError as exc:
            raise StorageError(f"cannot write {dest}: {exc.strerror}") from None

    def list(self, prefix: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for stored, size in self.inner.list(prefix).items():
            key = self._plain_name(stored)
            if key is None:
                continue
            if _passthrough(key):
                found[key] = size
            else:
                self._stored_sizes[stored] = size
                found[key] = plain_size(size)
        return found

    @property
    def version_blind(self) -> bool:
        return self.inner.version_blind

    def overwritten(self) -> dict[str, int]:
        found = {}
        for stored, versions in self.inner.overwritten().items():
            key = self._plain_name(stored)
            if key is not None:
                found[key] = versions
        return found

    def size(self, key: str) -> int | None:
        if _passthrough(key):
            return self.inner.size(key)
        stored = self.stored_name(key)
        size = self.inner.size(stored)
        if size is None:
            return None
        self._stored_sizes[stored] = size
        return plain_size(size)
