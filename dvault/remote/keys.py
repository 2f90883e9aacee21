"""Keys of an encrypted remote: one random repository key, wrapped once per passphrase.

The repository key (32 random bytes) never changes, so adding a passphrase re-encrypts
nothing: it only adds a *key slot*, ``keys/<random>.json``, which holds the key wrapped
(AES-256-GCM) under a key-encryption key derived from the passphrase with scrypt
(memory-hard: every guess costs ``128 * n * r`` bytes of memory and ~0.4 s of CPU at the
default cost). Slots and the marker ``dvault-remote.json`` stay readable so a client can
unlock before it can decrypt anything; neither holds anything derived from the data.

From the repository key, HKDF-SHA256 derives independent sub-keys: one for file contents
(:mod:`dvault.remote.encrypted`), one for names (AES-SIV) and a public *key id* that the
marker and every slot carry, so a slot that unwraps a different key is never used.

The unwrapped key lives only in this process's memory (:data:`_UNLOCKED`), never on disk.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvault.commitobjects import canonical_json
from dvault.errors import DvaultError, UsageError
from dvault.remote.backend import MAX_KEY_SLOT, AlreadyExists, Backend, RemoteError
from dvault.remote.marker import MARKER, read_marker
from dvault.remote.marker import marker_bytes as plain_marker

SLOT_PREFIX = "keys/"
PASSPHRASE_ENV = "DVAULT_PASSPHRASE"
NEW_PASSPHRASE_ENV = "DVAULT_NEW_PASSPHRASE"
DEFAULT_LOG_N = 17
"""scrypt cost: n = 2**17, r = 8, p = 1 (128 MiB, ~0.45 s per try on a 2020s core), the
parameters OWASP recommends for scrypt."""
MIN_LOG_N = 14
"""The least cost a slot may ask for when it is *read* (slots made by earlier versions)."""
MIN_NEW_LOG_N = 16
"""The least cost of a slot dvault *writes*: n = 2**16 (64 MiB, ~0.2 s per try). The slots
are public to anyone who can list the remote, so a cheaper one would let the storage
provider or a reader try passphrases four times faster than at 2**14."""
MAX_LOG_N = 20
"""A slot asking for more than 2**20 * 8 * 128 bytes (1 GiB) is refused: a hostile remote
must not be able to exhaust the client's memory with a slot."""
MAX_SLOTS_READ = 64
"""Slot files read at most when unlocking (each a small, bounded read)."""
MAX_SLOTS_TRIED = 16
"""Passphrase tries at most (each costs a scrypt run): whoever can create files on the
remote can add slots, so a flood of them must not make unlocking slow or impossible."""
SLOT_NAME = re.compile(r"keys/[A-Za-z0-9_-]{1,64}\.json")
"""Slot names (``add_slot`` makes 16 hex digits); anything else under ``keys/`` is not
a slot: never read, never written into the local hint file."""
MIN_PASSPHRASE = 8
FORMAT = 1
SEGMENT = 64 << 10


class PassphraseRequired(UsageError):
    """An encrypted remote needs a passphrase and there is no way to get one."""


class WrongPassphrase(UsageError):
    """No key slot of the remote opens with the given passphrase."""


@dataclass(frozen=True)
class RepoKeys:
    """The sub-keys derived from one repository key (kept in memory only)."""

    data: bytes
    names: bytes  # 64 bytes: AES-256-SIV
    key_id: str
    root: bytes

    @classmethod
    def derive(cls, root: bytes) -> RepoKeys:
        return cls(
            data=_hkdf(root, b"dvault-remote v1 data", 32),
            names=_hkdf(root, b"dvault-remote v1 names", 64),
            key_id=_hkdf(root, b"dvault-remote v1 key id", 16).hex(),
            root=root,
        )

    def __repr__(self) -> str:  # never print key bytes in a traceback
        return f"RepoKeys(key_id={self.key_id})"


def _hkdf(root: bytes, info: bytes, length: int, salt: bytes | None = None) -> bytes:
    from cryptography.hazmat.primitives import hashes  # deferred: cryptography, ~30 ms to import
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(root)


def _kek(passphrase: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    # deferred: cryptography, ~30 ms to import
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=1 << log_n, r=r, p=p).derive(passphrase.encode())


# -- the marker -----------------------------------------------------------------------------


def marker_bytes(key_id: str, protect: tuple[str, ...] = (), slot: str | None = None) -> bytes:
    """The marker of an encrypted remote: what a client needs to know before unlocking
    (and, like any marker, the branches it protects: see marker.marker_bytes). ``slot``
    names the first key slot, tried first by a clone that has never unlocked."""
    encryption: dict[str, Any] = {
        "cipher": "aes-256-gcm",
        "kdf": "scrypt",
        "key_id": key_id,
        "names": "aes-siv",
        "segment": SEGMENT,
        "version": FORMAT,
    }
    if slot is not None:
        encryption["slot"] = slot
    return plain_marker(protect, encryption)


def slot_hint(marker: dict[str, Any] | None) -> str | None:
    """The first slot the marker names (written by set-up since issue 17), if well-formed."""
    info = (marker or {}).get("encryption")
    hint = info.get("slot") if isinstance(info, dict) else None
    return hint if isinstance(hint, str) and SLOT_NAME.fullmatch(hint) else None


def encryption_of(marker: dict[str, Any] | None, where: str) -> str | None:
    """The key id an encrypted remote's marker names, None for an unencrypted remote."""
    if marker is None or "encryption" not in marker:
        return None
    info = marker["encryption"]
    ok = (
        isinstance(info, dict)
        and info.get("version") == FORMAT
        and info.get("cipher") == "aes-256-gcm"
        and info.get("segment") == SEGMENT
        and isinstance(info.get("key_id"), str)
        and len(info["key_id"]) == 32
    )
    if not ok:
        raise RemoteError(
            f"remote {where}: its encryption ({json.dumps(info)[:80]}) is not one this "
            "version of dvault reads"
        )
    return str(info["key_id"])


# -- key slots ------------------------------------------------------------------------------


def check_new_cost(log_n: int) -> None:
    """Refuse a scrypt cost outside what a new slot may use (before anything is written)."""
    if not MIN_NEW_LOG_N <= log_n <= MAX_LOG_N:
        raise UsageError(f"--kdf-cost must be between {MIN_NEW_LOG_N} and {MAX_LOG_N}")


def _slot_header(slot: dict[str, Any]) -> bytes:
    """The slot fields the wrapping authenticates (everything but nonce and ciphertext)."""
    return canonical_json({k: v for k, v in slot.items() if k not in ("nonce", "wrapped")})


def make_slot(
    keys: RepoKeys, passphrase: str, log_n: int = DEFAULT_LOG_N, label: str | None = None
) -> bytes:
    """A key slot: the repository key wrapped under a key derived from ``passphrase``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # deferred: cryptography

    check_new_cost(log_n)
    salt = secrets.token_bytes(16)
    slot: dict[str, Any] = {
        "cipher": "aes-256-gcm",
        "created": time.strftime("%Y-%m-%d", time.gmtime()),
        "kdf": {"log_n": log_n, "name": "scrypt", "p": 1, "r": 8, "salt": salt.hex()},
        "key_id": keys.key_id,
        "version": FORMAT,
    }
    if label:
        slot["label"] = label  # plaintext, for whoever administers the slots
    nonce = secrets.token_bytes(12)
    kek = _kek(passphrase, salt, log_n, 8, 1)
    wrapped = AESGCM(kek).encrypt(nonce, keys.root, _slot_header(slot))
    slot.update(nonce=nonce.hex(), wrapped=wrapped.hex())
    return canonical_json(slot) + b"\n"


def _parse_slot(raw: bytes) -> dict[str, Any] | None:
    """A slot's fields, checked for shape and bounded cost; None for anything else."""
    try:
        slot = json.loads(raw)
        kdf = slot["kdf"]
        ok = (
            slot["version"] == FORMAT
            and slot["cipher"] == "aes-256-gcm"
            and kdf["name"] == "scrypt"
            and isinstance(kdf["log_n"], int)
            and MIN_LOG_N <= kdf["log_n"] <= MAX_LOG_N
            and kdf["r"] == 8
            and kdf["p"] == 1
            and len(bytes.fromhex(kdf["salt"])) >= 16
            and len(bytes.fromhex(slot["nonce"])) == 12
            and len(bytes.fromhex(slot["wrapped"])) == 48
            and isinstance(slot["key_id"], str)
            and bool(_slot_header(slot))
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        return None
    return slot if ok else None


def _open_slot(slot: dict[str, Any], passphrase: str) -> RepoKeys | None:
    from cryptography.exceptions import InvalidTag  # deferred: cryptography, ~30 ms to import
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kdf = slot["kdf"]
    kek = _kek(passphrase, bytes.fromhex(kdf["salt"]), kdf["log_n"], kdf["r"], kdf["p"])
    try:
        root = AESGCM(kek).decrypt(
            bytes.fromhex(slot["nonce"]), bytes.fromhex(slot["wrapped"]), _slot_header(slot)
        )
    except InvalidTag:
        return None
    keys = RepoKeys.derive(root)
    # the key id commits to the key: a slot forged to open with this passphrase but to
    # wrap some other key (AES-GCM alone does not commit to its key) is refused here
    return keys if keys.key_id == slot["key_id"] else None


def _read_slot(backend: Backend, name: str, size: int | None) -> dict[str, Any] | None:
    """One slot, parsed; None for anything that is not a well-formed slot (too large, not
    a regular file, unreadable, malformed): a junk slot is skipped, never fatal."""
    if size is not None and size > MAX_KEY_SLOT:
        return None
    try:
        return _parse_slot(backend.read(name, MAX_KEY_SLOT))
    except RemoteError:
        return None


def candidate_slots(
    backend: Backend,
    key_id: str,
    hints: tuple[str | None, ...] = (),
    warn: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The remote's well-formed slots for ``key_id`` in the order to try them: the hinted
    ones first (the slot this clone opened last, the marker's first slot), each read
    alone, then the others, cheapest scrypt cost first. At most :data:`MAX_SLOTS_READ`
    files are read and :data:`MAX_SLOTS_TRIED` slots yielded; the rest are ignored with
    a warning, so slots anyone can add cannot stop or stall unlocking."""
    listed = {k: v for k, v in backend.list(SLOT_PREFIX).items() if SLOT_NAME.fullmatch(k)}
    order = [h for h in dict.fromkeys(hints) if h is not None and h in listed]
    order += sorted(k for k in listed if k not in order)
    read = order[:MAX_SLOTS_READ]
    hinted = [h for h in order if h in hints]
    tried = 0
    for name in hinted:  # read and tried one at a time: usually the first one opens
        slot = _read_slot(backend, name, listed[name])
        if slot is not None and slot["key_id"] == key_id:
            tried += 1
            yield name, slot
    rest = []
    for name in read[len(hinted) :]:
        slot = _read_slot(backend, name, listed[name])
        if slot is not None and slot["key_id"] == key_id:
            rest.append((slot["kdf"]["log_n"], name, slot))
    rest.sort(key=lambda item: (item[0], item[1]))
    for _cost, name, slot in rest[: max(0, MAX_SLOTS_TRIED - tried)]:
        yield name, slot
    ignored = len(order) - len(read) + max(0, len(rest) - (MAX_SLOTS_TRIED - tried))
    if ignored and warn is not None:
        warn(
            f"remote {backend.describe()} holds {len(listed)} key slot files; "
            f"{ignored} beyond the first {MAX_SLOTS_TRIED} tried were ignored"
        )


def list_slots(backend: Backend, key_id: str) -> dict[str, dict[str, Any]]:
    """The remote's well-formed slots for ``key_id`` (``passphrase list``; at most
    :data:`MAX_SLOTS_READ` read)."""
    names = sorted(k for k in backend.list(SLOT_PREFIX) if SLOT_NAME.fullmatch(k))
    slots = {}
    for name in names[:MAX_SLOTS_READ]:
        slot = _read_slot(backend, name, None)
        if slot is not None and slot["key_id"] == key_id:
            slots[name] = slot
    return slots


def unlock(
    backend: Backend,
    key_id: str,
    passphrase: str,
    hint: str | None = None,
    name: str = "",
    warn: Callable[[str], None] | None = None,
) -> tuple[RepoKeys, str]:
    """The repository keys and the name of the slot that opened them, trying the slot that
    worked last time (``hint``) and the marker's first slot before the others;
    :class:`WrongPassphrase` when none opens."""
    marker_hint = slot_hint(read_marker(backend))
    tried = 0
    for slot_name, slot in candidate_slots(backend, key_id, (hint, marker_hint), warn):
        tried += 1
        keys = _open_slot(slot, passphrase)
        if keys is not None:
            return keys, slot_name
    if not tried:
        raise RemoteError(
            f"remote {backend.describe()} is encrypted but holds no key slot for its key "
            f"{key_id[:8]} (keys/ is missing or was removed)"
        )
    where = f"{name} ({backend.describe()})" if name else backend.describe()
    raise WrongPassphrase(
        f"wrong passphrase for encrypted remote {where} "
        f"(none of its {tried} key slot(s) opens with it)"
    )


def add_slot(
    backend: Backend, keys: RepoKeys, passphrase: str, log_n: int, label: str | None = None
) -> str:
    """Create a new slot (create-only, random name); returns its name."""
    name = f"{SLOT_PREFIX}{secrets.token_hex(8)}.json"
    backend.create(name, make_slot(keys, passphrase, log_n, label))
    return name


# -- passphrases ----------------------------------------------------------------------------


def _can_prompt() -> bool:
    """getpass reads the controlling terminal (/dev/tty), so a git hook, whose stdin is not
    a terminal, can still ask; a job with no terminal at all gets a clear error instead."""
    if not sys.stderr.isatty():
        return False
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


def ask(remote: str, *, new: bool = False, env: str = PASSPHRASE_ENV) -> str:
    """A passphrase from ``env``, else a prompt on the terminal (twice for a new one),
    else :class:`PassphraseRequired`."""
    value = os.environ.get(env)
    if value is None:
        if not _can_prompt():
            what = "a new passphrase" if new else "the passphrase"
            raise PassphraseRequired(
                f"remote {remote} is encrypted: set {env} or run on a terminal to be asked "
                f"for {what}"
            )
        label = "new passphrase" if new else "passphrase"
        value = getpass.getpass(f"{label} for remote {remote}: ")
        if new and getpass.getpass(f"repeat the {label}: ") != value:
            raise UsageError("the two passphrases differ; nothing was changed")
    if new and len(value) < MIN_PASSPHRASE:
        raise UsageError(
            f"a passphrase must have at least {MIN_PASSPHRASE} characters; nothing was changed"
        )
    if not value:
        raise PassphraseRequired(f"remote {remote} is encrypted: the passphrase is empty")
    return value


# -- the per-process cache and the local slot hint ------------------------------------------

_UNLOCKED: dict[tuple[str, str], RepoKeys] = {}
"""(remote location, key id) -> keys, for the life of this process only."""


def forget_keys() -> None:
    """Drop every unlocked key from memory (tests; long-running library users)."""
    _UNLOCKED.clear()


def unlocked(
    backend: Backend,
    key_id: str,
    remote: str,
    state_dir: Path | None,
    warn: Callable[[str], None] | None = None,
) -> RepoKeys:
    """The keys of an encrypted remote, asking for the passphrase once per process."""
    cached = _UNLOCKED.get((backend.describe(), key_id))
    if cached is not None:
        return cached
    hint_file = state_dir / "key-slot" if state_dir is not None else None
    hint = None
    if hint_file is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            hint = hint_file.read_text().strip()
    keys, slot = unlock(backend, key_id, ask(remote), hint, remote, warn)
    _UNLOCKED[(backend.describe(), key_id)] = keys
    if hint_file is not None and slot != hint:
        with contextlib.suppress(OSError):  # only a speed-up: never fail an operation for it
            hint_file.parent.mkdir(parents=True, exist_ok=True)
            hint_file.write_text(slot + "\n")
    return keys


def set_up(backend: Backend, remote: str, log_n: int, protect: list[str] | None = None) -> str:
    """Make ``backend`` an encrypted remote (or join one already set up); returns its key id.

    Order matters on storage where nothing can be deleted: the slot is written before the
    marker that names its key, so a crash in between leaves a slot (reused next time)
    rather than a marker whose key no slot holds (an unusable remote forever).
    """
    check_new_cost(log_n)
    where = backend.describe()
    marker = read_marker(backend)
    key_id = encryption_of(marker, where)
    if key_id is not None:  # already encrypted: prove we know a passphrase, then join
        joined, _ = unlock(backend, key_id, ask(remote), name=remote)
        _UNLOCKED[(where, key_id)] = joined
        return key_id
    if marker is not None or backend.list("packs/") or backend.list("refs/"):
        raise UsageError(
            f"remote {where} already holds unencrypted dvault data; an append-only remote "
            "cannot be encrypted in place: use a new location for the encrypted remote"
        )
    passphrase = ask(remote, new=True)
    found = _left_over(backend, passphrase)
    if found is None:
        keys = RepoKeys.derive(secrets.token_bytes(32))
        slot = add_slot(backend, keys, passphrase, log_n)
    else:
        keys, slot = found
    try:
        encrypted = marker_bytes(keys.key_id, tuple(sorted(set(protect or ()))), slot)
        backend.create(MARKER, encrypted)
    except AlreadyExists:
        raise RemoteError(
            f"remote {where}: another client set it up at the same moment; run the "
            "command again to join its encryption"
        ) from None
    _UNLOCKED[(where, keys.key_id)] = keys
    return keys.key_id


def _left_over(backend: Backend, passphrase: str) -> tuple[RepoKeys, str] | None:
    """The key (and slot) of a slot left by an interrupted set-up that ``passphrase``
    opens (no marker yet, so any key id: the first :data:`MAX_SLOTS_TRIED` well-formed
    slots, cheapest first)."""
    names = sorted(k for k in backend.list(SLOT_PREFIX) if SLOT_NAME.fullmatch(k))
    parsed = [(name, _read_slot(backend, name, None)) for name in names[:MAX_SLOTS_READ]]
    slots = sorted((s["kdf"]["log_n"], n, s) for n, s in parsed if s is not None)
    for _cost, name, slot in slots[:MAX_SLOTS_TRIED]:
        keys = _open_slot(slot, passphrase)
        if keys is not None:
            return keys, name
    return None


def check_pinned(spec_key_id: str | None, key_id: str, where: str) -> None:
    if spec_key_id is not None and spec_key_id != key_id:
        raise DvaultError(
            f"remote {where} is now encrypted under key {key_id[:8]}, but this project "
            f"recorded key {spec_key_id[:8]}: it was replaced; refusing to use it"
        )
