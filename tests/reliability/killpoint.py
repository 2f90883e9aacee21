"""Run ``dvault ARGS`` and SIGKILL it right before its Nth write-boundary system call.

Usage: ``python killpoint.py N ARGS...``, or ``python killpoint.py @MODULE:NAME ARGS...``
to be killed on the first call of that function instead. The boundaries are the calls that order
durability: ``os.fsync``, ``os.rename``, ``os.replace``, ``os.link`` and ``os.unlink``
(pack seal, index, ref and reflog updates, checkout renames, remote publishes all pass
through them). Killing just before call N is also killing just after call N-1, so
``N = 1 .. count`` visits every gap between two such steps: a crash window a random delay
would hit only by luck (a ref written a millisecond before its commit's pack was sealed)
is hit every time. With ``N = 0`` nothing is killed and, when ``DVAULT_KILLPOINT_COUNT``
names a file, the number of boundary calls is written to it at exit.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

BOUNDARIES = ("fsync", "rename", "replace", "link", "unlink")


def install(kill_at: int) -> list[int]:
    """Wrap the boundary calls of ``os``; returns the (live) one-element call counter."""
    counter = [0]
    lock = threading.Lock()
    pid = os.getpid()

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def boundary(*args: Any, **kwargs: Any) -> Any:
            with lock:
                counter[0] += 1
                now = counter[0]
            if now == kill_at and os.getpid() == pid:
                os.kill(pid, signal.SIGKILL)
            return original(*args, **kwargs)

        return boundary

    for name in BOUNDARIES:
        setattr(os, name, wrap(getattr(os, name)))
    return counter


def kill_in(target: str) -> None:
    """SIGKILL the process when ``MODULE:NAME`` (``NAME`` may be ``Class.method``) is
    first called."""
    import importlib

    module_name, _, qualname = target.partition(":")
    owner: Any = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)

    def killed(*_args: Any, **_kwargs: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(owner, name, killed)


def main() -> None:
    if sys.argv[1].startswith("@"):
        kill_in(sys.argv[1][1:])
        kill_at = 0
    else:
        kill_at = int(sys.argv[1])
    args = sys.argv[2:]
    counter = install(kill_at)
    count_file = os.environ.get("DVAULT_KILLPOINT_COUNT")
    if count_file:

        def report() -> None:
            with open(count_file, "w") as f:
                f.write(str(counter[0]))

        atexit.register(report)
    from dvault.cli import main as dvault_main

    sys.argv = ["dvault", *args]
    dvault_main(args)


if __name__ == "__main__":
    main()
