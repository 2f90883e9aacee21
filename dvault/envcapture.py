"""Capture the environment a command runs in (the record is dvault/environment.py).

The interpreter asked is the one that runs the command, not the one running dvault: a
training script's packages live in its own virtualenv. :func:`interpreter_for` finds it
from the command line (``python train.py``: ``python`` resolved on PATH as the command
would resolve it; ``./train.py`` or ``train.sh`` with a ``#!`` line naming a Python);
otherwise dvault's own interpreter is asked and the record says so
(``interpreter: "dvault"``). ``commit --env`` has no command: it asks the Python on PATH
(an activated virtualenv's). The interpreter runs a small probe (:data:`PROBE`) with a
timeout; the rest (CPU, GPUs, lock files, container) is read by dvault from files, never
from a slow tool, so a capture costs about one interpreter start (0.10-0.14 s with 103
packages, warm; docs/lineage.md). ``dvault run`` captures while its command runs.

Capture never raises: what could not be read becomes a line in ``problems``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from dvault.content import hash_stream
from dvault.environment import (
    MAX_DISTRIBUTIONS,
    MAX_GPUS,
    MAX_LOCKFILES,
    MAX_PROBLEMS,
    MAX_SEEDS,
    MAX_TEXT,
    Environment,
    LockFile,
    package_order,
)
from dvault.errors import CorruptObject

PROBE_TIMEOUT_S = 10.0
LOCKFILE_MAX_BYTES = 64 * 1024 * 1024
LOCKFILE_PATTERNS = (
    "requirements*.txt",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "environment.yml",
    "environment.yaml",
    "conda-lock.yml",
)
_PYTHON_NAME = re.compile(r"^(python|pypy)(\d+(\.\d+)*)?[a-z]?(\.exe)?$")

PROBE = r"""
import sys
sys.path[:] = [p for p in sys.path if p not in ("", ".")]  # not the project's json.py
import json, platform
out = {"version": platform.python_version(), "implementation": platform.python_implementation(),
       "executable": sys.executable, "platform": platform.platform(),
       "machine": platform.machine(), "distributions": None}
try:
    from importlib import metadata
except ImportError:
    pass
else:
    seen = {}
    for d in metadata.distributions():
        try:
            name, version = d.metadata["Name"], d.version
        except Exception:
            continue
        if name and version and name.lower() not in seen:
            seen[name.lower()] = [str(name), str(version)]
    out["distributions"] = [seen[k] for k in sorted(seen)]
sys.stdout.write(json.dumps(out))
"""


def interpreter_for(command: list[str], cwd: Path) -> str | None:
    """The Python that ``command`` runs under, if the command line says: its first word
    is a Python (resolved on PATH, or relative to ``cwd``), or a script whose ``#!``
    line names one. None otherwise (a shell, ``uv run``, a binary)."""
    if not command:
        return None
    first = command[0]
    name = os.path.basename(first)
    if _PYTHON_NAME.match(name):
        return _which(first, cwd)
    path = _which(first, cwd)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
    if words and _PYTHON_NAME.match(os.path.basename(words[0])):
        return _which(words[0], cwd)
    return None


def _which(word: str, cwd: Path) -> str | None:
    if os.sep in word:
        full = word if os.path.isabs(word) else str(cwd / word)
        return full if os.access(full, os.X_OK) and os.path.isfile(full) else None
    return shutil.which(word)


def _clip(text: object) -> str:
    """A string as the record holds it: bounded, and UTF-8 (a lone surrogate becomes ?)."""
    return str(text)[:MAX_TEXT].encode("utf-8", "replace").decode()


def _ask(executable: str, cwd: Path, problems: list[str]) -> dict[str, object] | None:
    try:
        done = subprocess.run(
            [executable, "-c", PROBE],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        problems.append(f"{executable} did not answer within {PROBE_TIMEOUT_S:.0f} s")
        return None
    except OSError as exc:
        problems.append(f"cannot run {executable}: {exc.strerror}")
        return None
    try:
        value = json.loads(done.stdout)
    except ValueError:
        value = None
    if done.returncode != 0 or not isinstance(value, dict):
        why = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no answer"]
        problems.append(f"{executable} could not describe itself: {why[0]}")
        return None
    return value


def capture(command: list[str] | None, cwd: Path, root: Path) -> Environment:
    """The environment ``command`` (None: the Python on PATH, for ``commit --env``) runs
    in from ``cwd``, with the lock files at the project ``root`` and in ``cwd``."""
    problems: list[str] = []
    found = (
        interpreter_for(command, cwd)
        if command is not None
        else shutil.which("python3") or shutil.which("python")
    )
    interpreter = "command" if command is not None else "path"
    if found is None:
        interpreter, found = "dvault", sys.executable
        if command is not None:
            problems.append(
                f"the command's interpreter is not known from {_clip(command[0])!r}; "
                "recorded dvault's own"
            )
    answer = _ask(found, cwd, problems)
    if answer is None and interpreter != "dvault" and found != sys.executable:
        interpreter, found = "dvault", sys.executable
        answer = _ask(found, cwd, problems)
    answer = answer or {}
    dists = answer.get("distributions")
    if not isinstance(dists, list):
        problems.append("installed packages not listed (no importlib.metadata)")
        dists = []
    pairs = sorted(
        {
            (_clip(d[0]), _clip(d[1]))
            for d in dists[:MAX_DISTRIBUTIONS]
            if isinstance(d, list) and len(d) == 2
        },
        key=package_order,
    )
    env = Environment(
        python=_clip(answer.get("version", "")),
        implementation=_clip(answer.get("implementation", "")),
        executable=_clip(answer.get("executable") or found),
        interpreter=interpreter,
        platform=_clip(answer.get("platform") or platform.platform()),
        machine=_clip(answer.get("machine") or platform.machine()),
        cpu=_cpu(),
        gpus=_gpus(),
        distributions=tuple(pairs),
        lockfiles=_lockfiles(root, cwd, problems),
        container=_container(),
        problems=tuple(_clip(p) for p in problems[:MAX_PROBLEMS]),
        seeds=seeds(command or [], os.environ),
    )
    try:
        env.encode()
    except CorruptObject as exc:  # never fail the run: keep what is surely well-formed
        return Environment(
            "",
            "",
            _clip(found),
            interpreter,
            _clip(platform.platform()),
            _clip(platform.machine()),
            "",
            problems=(_clip(f"capture refused: {exc}"),),
        )
    return env


SEED_VALUE = re.compile(r"-?[0-9]{1,20}|random")
"""What a seed's value may be: an integer (``PYTHONHASHSEED=random`` too). Anything else is
not recorded, so a secret that happens to be named like a seed (a wallet's ``SEED_PHRASE``,
a hex key) never lands in an object that is pushed to remotes."""


def seeds(command: list[str], environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The random seeds the command was given, where it says so: an option whose name holds
    "seed" (``--seed 7``, ``--seed=7``, ``--data-seed 3``), a ``seed=7`` override (Hydra and
    friends), and environment variables whose name holds SEED (``PYTHONHASHSEED``). Names
    say what is a seed, and only integer values (:data:`SEED_VALUE`) are kept."""
    found: list[tuple[str, str]] = []
    for i, word in enumerate(command[1:], start=1):
        name, eq, value = word.partition("=")
        key = name.lstrip("-+")
        if "seed" not in key.lower() or not key or len(name) > 64:
            continue
        if not eq:
            if not name.startswith("-") or i + 1 >= len(command):
                continue
            value = command[i + 1]
        if SEED_VALUE.fullmatch(value):
            found.append((name, value))
    for name in sorted(environ):
        if "SEED" in name.upper() and len(name) <= 64 and SEED_VALUE.fullmatch(environ[name]):
            found.append((f"${name}", environ[name]))
    return tuple((_clip(w), _clip(v)) for w, v in found[:MAX_SEEDS])


def _read(path: str, limit: int = 1 << 20) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode(errors="replace")
    except OSError:
        return ""


def _cpu() -> str:
    for text in _read("/proc/cpuinfo").splitlines():
        key, _, value = text.partition(":")
        if key.strip() in ("model name", "Model", "cpu model") and value.strip():
            return _clip(value.strip())
    return _clip(platform.processor())


def _gpus() -> tuple[str, ...]:
    """NVIDIA GPUs as the driver lists them in /proc (no nvidia-smi: it takes ~0.5 s)."""
    base = "/proc/driver/nvidia/gpus"
    try:
        slots = sorted(os.listdir(base))[:MAX_GPUS]
    except OSError:
        return ()
    names = []
    for slot in slots:
        for text in _read(os.path.join(base, slot, "information")).splitlines():
            key, _, value = text.partition(":")
            if key.strip() == "Model":
                names.append(_clip(value.strip()))
    return tuple(names)


def _container() -> dict[str, str]:
    """What is readable from inside a container: its runtime, id, image and image id."""
    info: dict[str, str] = {}
    podman = _read("/run/.containerenv", 64 * 1024)
    if os.path.exists("/run/.containerenv"):
        info["runtime"] = "podman"
        for text in podman.splitlines():
            key, _, value = text.partition("=")
            if key in ("image", "imageid", "id") and value.strip('"'):
                info[{"imageid": "image_id"}.get(key, key)] = _clip(value.strip('"'))
    elif os.path.exists("/.dockerenv"):
        info["runtime"] = "docker"
    elif os.environ.get("container"):  # noqa: SIM112 (systemd and podman spell it so)
        info["runtime"] = _clip(os.environ["container"])  # noqa: SIM112
    if info and "id" not in info:
        found = re.search(
            r"/(?:docker|containers)/(?:containers/)?([0-9a-f]{64})", _read("/proc/self/mountinfo")
        )
        if found:
            info["id"] = found.group(1)
    return info


def _lockfiles(root: Path, cwd: Path, problems: list[str]) -> tuple[LockFile, ...]:
    """The lock files at the project root and in ``cwd`` (regular files only), by id."""
    found: dict[str, LockFile] = {}
    for folder in dict.fromkeys([root, cwd]):
        for pattern in LOCKFILE_PATTERNS:
            for path in sorted(folder.glob(pattern)):
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                if rel in found or len(found) >= MAX_LOCKFILES:
                    continue
                try:
                    st = path.lstat()
                    if not path.is_file() or path.is_symlink():
                        continue
                    if st.st_size > LOCKFILE_MAX_BYTES:
                        problems.append(
                            f"lock file {rel} is over {LOCKFILE_MAX_BYTES} bytes; not hashed"
                        )
                        continue
                    with open(path, "rb") as f:
                        oid, size = hash_stream(f, st.st_size)
                except OSError as exc:
                    problems.append(f"lock file {rel}: {exc.strerror}")
                    continue
                found[rel] = LockFile(_clip(rel), oid, size)
    return tuple(sorted(found.values(), key=lambda lf: lf.path))
