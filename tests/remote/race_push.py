"""A push that loses the race with a phase 2 and is killed right after its append.

``python -m tests.remote.race_push REMOTE_DIR COMMIT PACK...`` (cwd: the project): pushes
COMMIT to ``refs/heads/main`` of the directory remote ``origin``; when the push creates
its ref-log entry, the planned PACKs are deleted first (phase 2 wins the race, with the
admin deleter), then the entry is created and the process is SIGKILLed at once — before
anything the push would do after its append (the old code re-uploaded packs there)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from dvault.hashing import ObjectId
from dvault.remote.admin import DirectoryDeleter
from dvault.remote.directory import DirectoryBackend
from dvault.remote.push import push_refs
from dvault.remote.session import pick_remote
from dvault.repo import Repo
from tests.reliability.faults import FaultyBackend


def main() -> None:
    root, commit, *packs = sys.argv[1:]
    deleter = DirectoryDeleter(Path(root))

    class PruneWinsThenKill(FaultyBackend):
        def create(self, key: str, data: bytes) -> None:
            if not key.startswith("refs/log/"):
                super().create(key, data)
                return
            for name in packs:
                deleter.delete(f"packs/{name}.pack")
            super().create(key, data)
            os.kill(os.getpid(), signal.SIGKILL)

    with Repo.open(Path.cwd()) as repo:
        spec = pick_remote(repo, "origin")
        backend = PruneWinsThenKill(DirectoryBackend(Path(root)))
        push_refs(repo, spec, {"refs/heads/main": ObjectId(bytes.fromhex(commit))}, backend=backend)


if __name__ == "__main__":
    main()
