"""The environment object (dvault/environment.py): one spelling, hostile reading, and
which interpreter a command line names (dvault/envcapture.py). The CLI cases are in
tests/cli/test_cli_environment.py."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from dvault.envcapture import capture, interpreter_for
from dvault.environment import (
    MAX_BYTES,
    Environment,
    LockFile,
    ReadRaw,
    Recorded,
    TypeOf,
    decode,
    load,
)
from dvault.errors import CorruptObject
from dvault.hashing import ObjectId, ObjectType, object_id


def _sample() -> Environment:
    return Environment(
        python="3.11.7",
        implementation="CPython",
        executable="/venv/bin/python",
        interpreter="command",
        platform="Linux-6.1-x86_64",
        machine="x86_64",
        cpu="Xeon",
        gpus=("NVIDIA A100",),
        distributions=(("numpy", "2.0.0"), ("Pillow", "10.0"), ("torch", "2.3")),
        lockfiles=(LockFile("requirements.txt", ObjectId(b"\x01" * 32), 12),),
        container={"runtime": "docker", "id": "ab" * 32},
        problems=(),
    )


def test_round_trip_is_canonical() -> None:
    env = _sample()
    body = env.encode()
    assert decode(body) == env
    assert (
        body
        == json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )


def _mutated(change: dict[str, object]) -> bytes:
    value = json.loads(_sample().encode())
    value.update(change)
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[]", "must hold exactly"),
        (b"\xff", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (_mutated({"extra": 1}), "must hold exactly"),
        (_mutated({"version": 2}), "unknown version"),
        (_mutated({"version": True}), "unknown version"),
        (_mutated({"interpreter": "shell"}), "interpreter is not one of"),
        (_mutated({"cpu": "x" * 5000}), "not a string of at most"),
        (_mutated({"gpus": "A100"}), "not a list"),
        (_mutated({"distributions": [["b", "1"], ["a", "1"]]}), "not in canonical form"),
        (_mutated({"distributions": [["a", "1"], ["a", "1"]]}), "not in canonical form"),
        (_mutated({"distributions": [["a", 1]]}), "distribution version"),
        (_mutated({"distributions": [["a"]]}), "[name, version] pairs"),
        (_mutated({"lockfiles": [{"id": "zz", "path": "r.txt", "size": 1}]}), "not an object id"),
        (_mutated({"lockfiles": [{"id": "01" * 32, "path": "r", "size": -1}]}), "count of bytes"),
        (_mutated({"container": {str(i): "x" for i in range(20)}}), "not a small object"),
        (_sample().encode().replace(b",", b", "), "not in canonical form"),
        (b" " * (MAX_BYTES + 1), "over"),
    ],
)
def test_hostile_bodies_are_refused_with_the_reason(body: bytes, reason: str) -> None:
    with pytest.raises(CorruptObject, match="environment") as caught:
        decode(body)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def _store(objects: dict[bytes, tuple[ObjectType, bytes]]) -> tuple[ReadRaw, TypeOf]:
    return (lambda oid: objects[oid]), (lambda oid: objects[oid][0] if oid in objects else None)


def test_load_says_what_is_wrong_and_never_raises() -> None:
    body = _sample().encode()
    good = object_id(ObjectType.BLOB, body)
    tree = object_id(ObjectType.TREE, b"")
    read, type_of = _store({good: (ObjectType.BLOB, body), tree: (ObjectType.TREE, b"")})
    assert load(read, type_of, {}) == Recorded(None)
    assert load(read, type_of, {"env": good.hex()}).env == _sample()
    assert load(read, type_of, {"env": good.hex().upper()}).problem == (
        "meta env is not an object id"
    )
    assert load(read, type_of, {"env": 7}).status == "refused"
    assert "is missing" in load(read, type_of, {"env": "00" * 32}).problem
    assert "is not a blob" in load(read, type_of, {"env": tree.hex()}).problem


def test_interpreter_for_a_command_line(tmp_path: Path) -> None:
    exe = sys.executable
    assert interpreter_for([exe, "train.py"], tmp_path) == exe
    assert interpreter_for(["sh", "-c", "python x.py"], tmp_path) is None
    assert interpreter_for([], tmp_path) is None
    script = tmp_path / "train.py"
    script.write_text(f"#!{exe}\nprint(1)\n")
    script.chmod(0o755)
    assert interpreter_for(["./train.py"], tmp_path) == exe
    script.write_text("#!/bin/sh\necho\n")
    assert interpreter_for(["./train.py"], tmp_path) is None
    assert interpreter_for(["./missing.py"], tmp_path) is None


def test_capture_of_this_interpreter_is_fast_and_well_formed(tmp_path: Path) -> None:
    """One interpreter start plus a scan of its packages: well under a second here
    (measured ~0.15-0.35 s on the 2-core CI machine; docs/lineage.md)."""
    (tmp_path / "uv.lock").write_text("version = 1\n")
    (tmp_path / "requirements-dev.txt").symlink_to("/dev/zero")  # never followed
    started = time.perf_counter()
    env = capture([sys.executable, "x.py"], tmp_path, tmp_path)
    assert time.perf_counter() - started < 5  # generous: the machine is shared
    assert decode(env.encode()) == env
    assert [lf.path for lf in env.lockfiles] == ["uv.lock"]
    assert env.interpreter == "command" and env.problems == ()


def test_seeds_are_found_by_name_only() -> None:
    from dvault.envcapture import seeds

    assert seeds(["python", "t.py", "--seed", "--epochs", "3"], {}) == ()  # no value
    assert seeds(["python", "--seed"], {}) == ()  # at the end
    assert seeds(["python", "t.py", "--lr=0.1", "epochs=3"], {"HOME": "/root"}) == ()
    assert seeds(["--seed", "1"], {}) == ()  # the program itself is not an option
    assert seeds(["py", "+trainer.seed=5", "--SEED", "9"], {"Seed_x": "2"}) == (
        ("+trainer.seed", "5"),
        ("--SEED", "9"),
        ("$Seed_x", "2"),
    )


def test_a_secret_named_like_a_seed_is_not_recorded() -> None:
    """Only integers are seeds: a wallet's seed phrase or a hex key named *SEED* stays out
    of the environment object (which is pushed to remotes)."""
    from dvault.envcapture import seeds

    environ = {
        "WALLET_SEED": "abandon ability able about above absent absorb abstract absurd abuse",
        "NODE_SEED": "9f" * 32,
        "PYTHONHASHSEED": "random",
    }
    command = ["py", "--seed-phrase", "correct horse battery", "--seed=-3"]
    assert seeds(command, environ) == (("--seed", "-3"), ("$PYTHONHASHSEED", "random"))
