"""Signed commits and tags: ed25519 keys per user, a trusted-signers file per project.

Private keys never live in a repository: they are files under the user's dvault
directory (:func:`keys_dir`), mode 0600, created once and never overwritten. A key is
named by the user (``default`` unless told otherwise) and identified everywhere else by
its fingerprint, a short blake3 of the public key.

Trust comes from two places no data checkout can write (:func:`trusted_signers`): the
user's own allowed-signers file (``allowed_signers`` in the user's dvault directory, as
git's ``gpg.ssh.allowedSignersFile``), and the project's ``.dvaultsigners`` *as committed
in git's HEAD commit*, read from git's object database (so adding a signer is a reviewed
git change, and a file a checkout or anyone else wrote into the work tree counts for
nothing). Both list ``NAME ed25519:<public key hex>`` lines (what ``dvault key export``
prints). A signature is *good* when it verifies and its key is listed, *unknown* when it
verifies but the key is not listed, *bad* when it does not verify (always damage), and an
object without one is *unsigned*. What exactly is signed: docs/format.md, "Signatures".
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blake3 import blake3

from dvault import config as cfg
from dvault.commitobjects import SIGNATURE_ALG, Commit, Signature, Tag, signed_message
from dvault.config import user_dir
from dvault.errors import CheckFailed, CorruptObject, UsageError
from dvault.fsutil import fsync_dir, temp_name
from dvault.gitlink import find_git_root, read_file_at
from dvault.hashing import ObjectType
from dvault.objects import decode
from dvault.repository import Repository

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


SIGNERS_FILE = ".dvaultsigners"
ALLOWED_SIGNERS_FILE = "allowed_signers"
DEFAULT_KEY = "default"
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SIGNER_NAME = re.compile(r"[^\s#]+")

GOOD, BAD, UNKNOWN, UNSIGNED = "good", "bad", "unknown", "unsigned"


class SignatureError(UsageError):
    """A key cannot be created, found or used (exit 2: the user must fix the input)."""


# -- keys -------------------------------------------------------------------------------


def keys_dir() -> Path:
    """Where this user's private keys live: ``keys`` in :func:`dvault.config.user_dir`, so a key
    cannot be committed or pushed by accident."""
    return user_dir() / "keys"


def allowed_signers_path() -> Path:
    """This user's own trusted-signers file: ``allowed_signers`` in :func:`dvault.config.user_dir`
    (the role of git's ``gpg.ssh.allowedSignersFile``), or the file named by
    ``$DVAULT_ALLOWED_SIGNERS``."""
    named = os.environ.get("DVAULT_ALLOWED_SIGNERS")
    return Path(named) if named else user_dir() / ALLOWED_SIGNERS_FILE


def fingerprint(public: bytes) -> str:
    """A key's short name: 16 hex digits (64 bits) of the blake3 of its public bytes."""
    return blake3(public).hexdigest()[:16]


@dataclass(frozen=True)
class KeyInfo:
    name: str
    public: bytes
    path: Path

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    @property
    def signer_line(self) -> str:
        """This key as a line of the trusted-signers file."""
        return f"{self.name} {SIGNATURE_ALG}:{self.public.hex()}"

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "public_key": f"{SIGNATURE_ALG}:{self.public.hex()}",
            "path": str(self.path),
        }


def _check_key_name(name: str) -> None:
    if not _KEY_NAME.fullmatch(name):
        raise SignatureError(
            f"invalid key name {name!r}: use letters, digits, '.', '_' and '-' (at most 64)"
        )


def _public_of(private: Ed25519PrivateKey) -> bytes:
    # deferred: cryptography, ~30 ms to import
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _write_create_only(path: Path, data: bytes) -> None:
    """Write a secret durably with mode 0600, failing if ``path`` exists: temp file
    (created 0600, fsynced), ``link()`` to the final name (never replaces), fsync dir."""
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)
        fsync_dir(path.parent)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def generate(name: str = DEFAULT_KEY) -> KeyInfo:
    """Create a new ed25519 key named ``name``; an existing key is never overwritten."""
    # deferred: cryptography, ~30 ms to import
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    _check_key_name(name)
    directory = keys_dir()
    path = directory / f"{name}.key"
    if path.exists():
        raise SignatureError(f"key {name!r} already exists ({path}); keys are never overwritten")
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        _write_create_only(path, pem)
    except FileExistsError:
        raise SignatureError(
            f"key {name!r} already exists ({path}); keys are never overwritten"
        ) from None
    except OSError as exc:
        raise SignatureError(f"cannot write key {path}: {exc.strerror}") from None
    return KeyInfo(name, _public_of(private), path)


def _load(path: Path) -> Ed25519PrivateKey:
    # deferred: cryptography, ~30 ms to import
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        st = path.stat()
        if st.st_mode & 0o077:
            raise SignatureError(
                f"key file {path} is accessible by other users (mode "
                f"{stat.S_IMODE(st.st_mode):o}); run: chmod 600 {path}"
            )
        private = load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise SignatureError(f"cannot read key {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"key file {path} is not an unencrypted PEM key: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise SignatureError(f"key file {path} does not hold an ed25519 key")
    return private


def list_keys() -> list[KeyInfo]:
    """This user's keys, by name (unreadable key files are reported as errors)."""
    directory = keys_dir()
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.key")):
        found.append(KeyInfo(path.stem, _public_of(_load(path)), path))
    return found


def pick_key(name: str | None) -> str:
    """The key to sign with: ``name``, else ``$DVAULT_SIGNING_KEY``, else the only key
    this user has, else ``default``."""
    chosen = name or os.environ.get("DVAULT_SIGNING_KEY")
    if chosen:
        return chosen
    directory = keys_dir()
    names = sorted(p.stem for p in directory.glob("*.key")) if directory.is_dir() else []
    if len(names) == 1:
        return names[0]
    if not names:
        raise SignatureError("no signing key; create one with: dvault key generate")
    if DEFAULT_KEY in names:
        return DEFAULT_KEY
    raise SignatureError(f"several signing keys ({', '.join(names)}); choose one with --key NAME")


def load_key(name: str | None) -> tuple[KeyInfo, Ed25519PrivateKey]:
    """The named (or picked) key, ready to sign."""
    chosen = pick_key(name)
    _check_key_name(chosen)
    path = keys_dir() / f"{chosen}.key"
    if not path.exists():
        raise SignatureError(f"no signing key named {chosen!r} in {keys_dir()} (dvault key list)")
    private = _load(path)
    return KeyInfo(chosen, _public_of(private), path), private


SignedObject = Commit | Tag


def sign(obj: SignedObject, private: Ed25519PrivateKey) -> SignedObject:
    """``obj`` with a signature over its canonical bytes (any old signature replaced)."""
    kind = ObjectType.COMMIT if isinstance(obj, Commit) else ObjectType.TAG
    unsigned = dataclasses.replace(obj, signature=None)
    sig = private.sign(signed_message(kind, unsigned.encode()))
    return dataclasses.replace(obj, signature=Signature(_public_of(private), sig))


# -- trust and verification -------------------------------------------------------------


@dataclass(frozen=True)
class Signers:
    """Trusted signers: public key -> signer name, and where they were read from."""

    names: dict[bytes, str]
    path: Path | None = None
    sources: tuple[str, ...] = ()


def parse_signers(text: str, where: str) -> dict[bytes, str]:
    """``NAME ed25519:<64 hex>`` per line; blank lines and ``#`` comments are ignored."""
    names: dict[bytes, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        alg, _, key = words[1].partition(":") if len(words) == 2 else ("", "", "")
        if (
            len(words) != 2
            or not _SIGNER_NAME.fullmatch(words[0])
            or alg != SIGNATURE_ALG
            or not re.fullmatch(r"[0-9a-f]{64}", key)
        ):
            raise UsageError(f"{where}:{number}: expected 'NAME ed25519:<64 hex digits>'")
        names.setdefault(bytes.fromhex(key), words[0])
    return names


def _read_text(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read {where}: {exc}") from None


def trusted_signers(root: Path) -> Signers:
    """The signers this user trusts for the project at ``root``: the union of the user's
    own allowed-signers file (:func:`allowed_signers_path`; its names win) and the
    ``.dvaultsigners`` committed in git's HEAD commit (or the git revision named by
    ``$DVAULT_SIGNERS_REV``, such as the base branch a CI job reviews a change against),
    read through dulwich from git's object database. Never a file in the work tree: a
    data checkout (or a hostile commit's tree) writes work-tree files, and a signer it
    could add would make its own commits show a "good signature". Outside git, only the
    user's file counts."""
    names: dict[bytes, str] = {}
    sources: list[str] = []
    user_file = allowed_signers_path()
    try:
        data = user_file.read_bytes()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise UsageError(f"cannot read {user_file}: {exc.strerror}") from None
    else:
        names.update(parse_signers(_read_text(data, str(user_file)), str(user_file)))
        sources.append(str(user_file))
    if find_git_root(root) is not None:
        rev = os.environ.get("DVAULT_SIGNERS_REV") or "HEAD"
        try:
            committed = read_file_at(root, rev, SIGNERS_FILE)
        except UsageError:
            if rev != "HEAD":
                raise  # the user named a base that does not exist: say so
            committed = None  # no commit yet: nothing committed to trust
        except Exception as exc:  # dulwich raises many kinds; a broken git repo is not ours
            raise UsageError(f"cannot read {SIGNERS_FILE} from git at {rev}: {exc}") from None
        if committed is not None:
            where = f"{SIGNERS_FILE} at git {rev}"
            for key, name in parse_signers(_read_text(committed, where), where).items():
                names.setdefault(key, name)
            sources.append(where)
    return Signers(names, None, tuple(sources))


@dataclass(frozen=True)
class SignatureCheck:
    """The signature status of one commit or tag."""

    status: str  # good | bad | unknown | unsigned
    key: bytes | None = None
    signer: str | None = None

    @property
    def fingerprint(self) -> str | None:
        return fingerprint(self.key) if self.key is not None else None

    def describe(self) -> str:
        if self.status == GOOD:
            return f"good signature by {self.signer} (key {self.fingerprint})"
        if self.status == BAD:
            return f"BAD signature (key {self.fingerprint}): it does not verify"
        if self.status == UNKNOWN:
            return f"unknown signer (key {self.fingerprint} is not a trusted signer)"
        return "unsigned"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "signer": self.signer,
            "key": self.key.hex() if self.key is not None else None,
            "fingerprint": self.fingerprint,
        }


def check(kind: ObjectType, body: bytes, signers: Signers) -> SignatureCheck:
    """Classify the signature of a commit or tag body (as stored, hash already checked)."""
    obj = decode(kind, body)
    if not isinstance(obj, Commit | Tag):
        raise CorruptObject(f"a {kind.name.lower()} carries no signature")
    sig = obj.signature
    if sig is None:
        return SignatureCheck(UNSIGNED)
    from cryptography.exceptions import InvalidSignature  # deferred: cryptography, ~30 ms to import
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(sig.key).verify(sig.sig, signed_message(kind, body))
    except (InvalidSignature, ValueError):
        return SignatureCheck(BAD, sig.key)
    signer = signers.names.get(sig.key)
    return SignatureCheck(GOOD if signer else UNKNOWN, sig.key, signer)


def check_object(repo: Repository, oid: bytes, signers: Signers) -> SignatureCheck:
    kind, body = repo.store.get_raw(oid)
    return check(kind, body, signers)


# -- push policy ------------------------------------------------------------------------


def required_patterns(config: dict[str, Any]) -> list[str]:
    """``[push] require-signed`` of the project config: glob patterns of branch and tag
    names whose pushed commits (branches) or tag objects (tags) must carry a good
    signature."""
    patterns = cfg.get(config, "push.require-signed", [])
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise UsageError("push.require-signed in .dvault/config must be a list of patterns")
    return patterns


def ref_matches(ref: str, patterns: Iterable[str]) -> bool:
    """True when a full ref name or its short name (branch or tag) matches a pattern."""
    short = ref.split("/", 2)[2] if ref.startswith(("refs/heads/", "refs/tags/")) else None
    return any(
        fnmatch.fnmatchcase(ref, p) or (short is not None and fnmatch.fnmatchcase(short, p))
        for p in patterns
    )


def refuse_unsigned(
    repo: Repository,
    wanted: dict[str, bytes],
    on_remote: Callable[[bytes], bool],
    where: str,
) -> None:
    """Refuse a push (CheckFailed, exit 1) that would put a commit without a good
    signature on a branch, or a tag without one, named by ``push.require-signed``.

    On a branch every commit the push adds is checked: those reachable from the new
    value that ``on_remote`` says the remote does not already hold.
    """
    patterns = required_patterns(repo.config)
    if not patterns:
        return
    signers = trusted_signers(repo.root)
    for ref, new in sorted(wanted.items()):
        if not ref.startswith(("refs/heads/", "refs/tags/")) or not ref_matches(ref, patterns):
            continue
        pending, seen = [bytes(new)], set()
        while pending:
            oid = pending.pop()
            if oid in seen or on_remote(oid):
                continue
            seen.add(oid)
            kind, body = repo.store.get_raw(oid)
            result = check(kind, body, signers)
            if result.status != GOOD:
                what = "tag" if kind == ObjectType.TAG else "commit"
                raise CheckFailed(
                    f"push refused: {ref} requires signatures (push.require-signed) but "
                    f"{what} {oid.hex()[:12]} is {_why(result)}; {where} unchanged"
                )
            if kind == ObjectType.COMMIT and not ref.startswith("refs/tags/"):
                commit = decode(kind, body)
                assert isinstance(commit, Commit)
                pending.extend(commit.parents)


def _why(result: SignatureCheck) -> str:
    if result.status == UNSIGNED:
        return "unsigned"
    if result.status == BAD:
        return f"badly signed (key {result.fingerprint} does not verify)"
    return f"signed by key {result.fingerprint}, which is not a trusted signer"


__all__ = [
    "ALLOWED_SIGNERS_FILE",
    "BAD",
    "GOOD",
    "SIGNERS_FILE",
    "UNKNOWN",
    "UNSIGNED",
    "KeyInfo",
    "SignatureCheck",
    "Signers",
    "allowed_signers_path",
    "check",
    "generate",
    "keys_dir",
    "list_keys",
    "load_key",
    "refuse_unsigned",
    "sign",
    "trusted_signers",
]
