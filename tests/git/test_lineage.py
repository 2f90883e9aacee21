"""Lineage recorded automatically with every dvault commit made inside git."""

from __future__ import annotations

import getpass
import socket
import tomllib

from blake3 import blake3

from .conftest import GitProject

GEN = b"import random\nrandom.seed(7)\nprint('synthesise')\n"


def test_commit_records_git_state_command_user_host(v1: GitProject) -> None:
    """meta.git names the git HEAD and dirtiness; command, user and host are recorded."""
    meta = v1.show_json()["meta"]
    assert meta["git"] == {"commit": v1.sha(), "branch": "main", "dirty": False}
    assert meta["command"] == ["dvault", "commit", "-m", "v1"]
    assert meta["user"] == getpass.getuser()
    assert meta["host"] == socket.gethostname()
    # dvault.lock changed by that commit is not "dirty code"; a modified tracked file is
    v1.git("add", "-A")
    v1.git("commit", "-q", "-m", "data v1")
    v1.write("data/a.txt", b"two\n")
    v1.ok("commit", "-a", "-m", "v2")
    assert v1.show_json()["meta"]["git"] == {"commit": v1.sha(), "branch": "main", "dirty": False}
    v1.write("train.py", "print('uncommitted edit')\n")
    v1.write("data/a.txt", b"three\n")
    v1.ok("commit", "-a", "-m", "v3")
    assert v1.show_json()["meta"]["git"] == {"commit": v1.sha(), "branch": "main", "dirty": True}


def test_commit_records_inputs_and_sources(v1: GitProject) -> None:
    """--input data@v1 records v1's commit and data tree; --source records gen.py's blob id."""
    v1.ok("tag", "v1")
    v1_id = v1.pin()
    data_tree = v1.ok("show", "--json", "HEAD:").json()
    data_tree_id = next(e["id"] for e in data_tree if e["name"] == "data")
    v1.write("gen.py", GEN)
    v1.write("labels/synth.csv", "id,label\n1,cat\n")
    v1.ok("add", "labels")
    v1.ok("commit", "-m", "synthetic labels", "--input", "data@v1", "--source", "gen.py")
    meta = v1.show_json()["meta"]
    assert meta["inputs"] == [{"rev": "v1", "commit": v1_id, "path": "data", "id": data_tree_id}]
    expected = blake3(b"blob %d\0" % len(GEN) + GEN).hexdigest()
    assert meta["sources"] == [{"path": "gen.py", "id": expected, "size": len(GEN)}]
    assert data_tree_id == tomllib.loads(v1.lock())["roots"]["data"]["tree"]
