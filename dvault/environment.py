"""The environment a version was made in: interpreter, packages, platform, hardware, lock
files and container, as one small object referenced from the commit.

``dvault run`` (always) and ``dvault commit --env`` capture an :class:`Environment`
(dvault/envcapture.py), store its canonical JSON as a blob and record the blob's id in the
commit's ``meta`` under :data:`META_KEY`. It is a separate object, not inline meta, so
that ``log`` and the lineage walk do not read a few hundred package names per commit;
the history walks (push, fetch, gc, verify: dvault/reachability.py) follow the reference
like a file of the commit, so it travels and survives with the commit.

This module is the one place that writes and reads that object. What is read back came
from whoever made the commit, so :func:`decode` treats it as hostile: a bounded size
(:data:`MAX_BYTES`), canonical JSON, known keys of known types, bounded lists and
strings; anything else is refused with one line saying why (:class:`Recorded`).

Capture never fails the command it describes: what could not be read is recorded in
``problems`` (an interpreter that did not answer, a lock file that could not be read).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dvault.errors import CorruptObject, DvaultError
from dvault.hashing import ObjectId, ObjectType, from_hex

META_KEY = "env"
VERSION = 1
MAX_BYTES = 512 * 1024
"""Largest environment object read back or written (103 packages make 2.7 KB; a blob is
at most 1 MiB anyway: store/pack.py)."""
MAX_DISTRIBUTIONS = 10_000
MAX_LOCKFILES = 64
MAX_PROBLEMS = 32
MAX_GPUS = 64
MAX_TEXT = 1024
MAX_SEEDS = 32
INTERPRETERS = {
    "command": "the command's interpreter",
    "path": "the Python on PATH",
    "dvault": "dvault's own interpreter",
}
"""Which interpreter an environment describes: the one ``run``'s command runs under, the
one on PATH (``commit --env``), or dvault's own when neither could be asked."""


@dataclass(frozen=True, slots=True)
class LockFile:
    path: str  # relative to the project root, "/"-separated
    id: ObjectId  # the id dvault stores this content under (as `dvault add` would)
    size: int


@dataclass(frozen=True, slots=True)
class Environment:
    python: str  # "3.11.7", or "" when no interpreter answered
    implementation: str  # "CPython"
    executable: str  # the interpreter asked
    interpreter: str  # who was asked: one of INTERPRETERS
    platform: str  # platform.platform() as the interpreter sees it
    machine: str  # "x86_64"
    cpu: str
    gpus: tuple[str, ...] = ()
    distributions: tuple[tuple[str, str], ...] = ()  # (name, version), sorted by name
    lockfiles: tuple[LockFile, ...] = ()
    container: dict[str, str] = field(default_factory=dict)  # runtime, id, image, image_id
    problems: tuple[str, ...] = ()  # what could not be captured, in words
    seeds: tuple[tuple[str, str], ...] = ()  # (where, value): "--seed", "PYTHONHASHSEED"

    def to_json(self) -> dict[str, Any]:
        return {
            "container": dict(sorted(self.container.items())),
            "cpu": self.cpu,
            "distributions": [list(d) for d in self.distributions],
            "gpus": list(self.gpus),
            "interpreter": self.interpreter,
            "lockfiles": [
                {"id": lf.id.hex(), "path": lf.path, "size": lf.size} for lf in self.lockfiles
            ],
            "machine": self.machine,
            "platform": self.platform,
            "problems": list(self.problems),
            "seeds": [list(x) for x in self.seeds],
            "python": {
                "executable": self.executable,
                "implementation": self.implementation,
                "version": self.python,
            },
            "version": VERSION,
        }

    def encode(self) -> bytes:
        body = _canonical(self.to_json())
        decode(body)  # writers never store what readers refuse
        return body

    def summary(self) -> str:
        """One line: interpreter, package count, platform (unescaped: printers escape)."""
        python = f"{self.implementation} {self.python}".strip() if self.python else "no interpreter"
        where = " (dvault's own interpreter)" if self.interpreter == "dvault" else ""
        parts = [f"{python}{where}", f"{len(self.distributions)} packages", self.platform]
        if self.gpus:
            parts.append(", ".join(self.gpus))
        if self.container:
            box = self.container
            parts.append(
                "container " + (box.get("image") or box.get("id") or box.get("runtime", ""))
            )
        return "; ".join(p for p in parts if p)

    def details(self) -> list[str]:
        """The record as lines for show/review (unescaped: printers escape)."""
        lines = [
            f"python: {self.implementation} {self.python} "
            f"({self.executable}; {INTERPRETERS.get(self.interpreter, '?')})",
            f"platform: {self.platform} ({self.machine})",
            f"cpu: {self.cpu or 'not readable'}",
            f"gpus: {', '.join(self.gpus) or 'none found'}",
            f"packages: {len(self.distributions)}",
        ]
        lines += [
            f"lock file: {lf.path} ({lf.size} bytes, id {lf.id.hex()[:12]})"
            for lf in self.lockfiles
        ]
        if self.container:
            lines.append(
                "container: " + ", ".join(f"{k} {v}" for k, v in sorted(self.container.items()))
            )
        lines += [f"seed: {where} = {value}" for where, value in self.seeds]
        lines += [f"not captured: {p}" for p in self.problems]
        return lines


# -- reading back: hostile ----------------------------------------------------------------


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise CorruptObject(f"environment field {what} is not a string of at most {MAX_TEXT}")
    return value


def _list(value: object, what: str, limit: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise CorruptObject(f"environment field {what} is not a list of at most {limit}")
    return value


def _keys(value: object, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != keys:
        raise CorruptObject(f"environment {what} must hold exactly {', '.join(sorted(keys))}")
    return value


def _seed(item: object) -> tuple[str, str]:
    if not isinstance(item, list) or len(item) != 2:
        raise CorruptObject("environment seeds must be [where, value] pairs")
    return _text(item[0], "seed source"), _text(item[1], "seed value")


def decode(body: bytes) -> Environment:
    """Parse an environment object, refusing anything but what :meth:`Environment.encode`
    writes (CorruptObject, one line)."""
    if len(body) > MAX_BYTES:
        raise CorruptObject(f"environment object is {len(body)} bytes, over {MAX_BYTES}")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise CorruptObject("environment object is not JSON") from None
    top = {"container", "cpu", "distributions", "gpus", "interpreter", "lockfiles"}
    top |= {"machine", "platform", "problems", "python", "seeds", "version"}
    v = _keys(value, top, "object")
    if v["version"] != VERSION or isinstance(v["version"], bool):
        raise CorruptObject(f"environment object has an unknown version {v['version']!r}")
    py = _keys(v["python"], {"executable", "implementation", "version"}, "field python")
    if v["interpreter"] not in INTERPRETERS:
        raise CorruptObject(
            f"environment field interpreter is not one of {', '.join(INTERPRETERS)}"
        )
    dists = []
    for item in _list(v["distributions"], "distributions", MAX_DISTRIBUTIONS):
        if not isinstance(item, list) or len(item) != 2:
            raise CorruptObject("environment distributions must be [name, version] pairs")
        dists.append((_text(item[0], "distribution name"), _text(item[1], "distribution version")))
    locks = []
    for item in _list(v["lockfiles"], "lockfiles", MAX_LOCKFILES):
        lf = _keys(item, {"id", "path", "size"}, "lock file")
        size = lf["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise CorruptObject("environment lock file size is not a count of bytes")
        try:
            oid = from_hex(lf["id"]) if isinstance(lf["id"], str) else None
        except ValueError:
            oid = None
        if oid is None or oid.hex() != lf["id"]:
            raise CorruptObject("environment lock file id is not an object id")
        locks.append(LockFile(_text(lf["path"], "lock file path"), oid, size))
    container = v["container"]
    if not isinstance(container, dict) or len(container) > 8:
        raise CorruptObject("environment field container is not a small object")
    env = Environment(
        python=_text(py["version"], "python version"),
        implementation=_text(py["implementation"], "python implementation"),
        executable=_text(py["executable"], "python executable"),
        interpreter=v["interpreter"],
        platform=_text(v["platform"], "platform"),
        machine=_text(v["machine"], "machine"),
        cpu=_text(v["cpu"], "cpu"),
        gpus=tuple(_text(g, "gpu") for g in _list(v["gpus"], "gpus", MAX_GPUS)),
        distributions=tuple(dists),
        lockfiles=tuple(locks),
        container={
            _text(k, "container key"): _text(x, "container value") for k, x in container.items()
        },
        problems=tuple(_text(p, "problem") for p in _list(v["problems"], "problems", MAX_PROBLEMS)),
        seeds=tuple(_seed(x) for x in _list(v["seeds"], "seeds", MAX_SEEDS)),
    )
    # one environment, one spelling (so one id): sorted keys, no spaces, packages sorted
    # by name without repeats, lock files by path
    if (
        _canonical(env.to_json()) != body
        or list(env.distributions) != sorted(set(env.distributions), key=package_order)
        or [lf.path for lf in env.lockfiles] != sorted({lf.path for lf in env.lockfiles})
    ):
        raise CorruptObject("environment object is not in canonical form")
    return env


def package_order(pair: tuple[str, str]) -> tuple[str, str, str]:
    """How an environment's packages are sorted: by name ignoring case, then exactly."""
    return (pair[0].lower(), pair[0], pair[1])


def _canonical(value: dict[str, Any]) -> bytes:
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
    except (ValueError, UnicodeEncodeError):  # a lone surrogate cannot be UTF-8
        raise CorruptObject("environment object holds text that is not UTF-8") from None


def recorded_id(meta: Mapping[str, Any]) -> ObjectId | None:
    """The environment object a commit's meta names, or None (none recorded, or a value
    that is not an object id: :func:`load` says which)."""
    value = meta.get(META_KEY)
    if not isinstance(value, str):
        return None
    try:
        oid = from_hex(value)
    except ValueError:
        return None
    return oid if oid.hex() == value else None


@dataclass(frozen=True)
class Recorded:
    """A commit's environment as read back: ``env`` when usable, else ``problem`` says
    why not (None and "" when the commit records no environment)."""

    env: Environment | None
    problem: str = ""
    id: str = ""

    @property
    def status(self) -> str:
        return "captured" if self.env else ("refused" if self.problem else "not recorded")

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "id": self.id or None,
            "problem": self.problem or None,
            "environment": self.env.to_json() if self.env else None,
        }


ReadRaw = Callable[[bytes], tuple[ObjectType, bytes]]
TypeOf = Callable[[bytes], ObjectType | None]


def load(read: ReadRaw, type_of: TypeOf, meta: Mapping[str, Any]) -> Recorded:
    """The environment a commit's ``meta`` records, read through the store's ``read`` and
    ``type_of`` and checked; never raises for a bad record (it is reported)."""
    if META_KEY not in meta:
        return Recorded(None)
    oid = recorded_id(meta)
    if oid is None:
        return Recorded(None, f"meta {META_KEY} is not an object id")
    kind = type_of(oid)
    if kind is None:
        return Recorded(None, f"environment object {oid.hex()[:12]} is missing", oid.hex())
    if kind != ObjectType.BLOB:
        return Recorded(None, f"environment object {oid.hex()[:12]} is not a blob", oid.hex())
    try:
        _, body = read(oid)
        return Recorded(decode(body), "", oid.hex())
    except DvaultError as exc:  # a damaged pack as much as a hostile body
        return Recorded(None, f"{exc} ({oid.hex()[:12]})", oid.hex())
