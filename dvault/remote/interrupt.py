"""A push interrupted by SIGINT: what landed is confirmed and recorded so the push that
resumes it can say so, and one line says how far it got (dvault/remote/push.py calls it)."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import wait as wait_all

from dvault.errors import DvaultError
from dvault.fsutil import write_durable
from dvault.remote.confirmed import Confirmed
from dvault.remote.session import Remote


class PushInterrupted(DvaultError):
    """SIGINT during the upload: what landed is confirmed, the refs are not moved."""

    exit_code = 130


INTERRUPTED = "interrupted.json"
"""``.dvault/remotes/<name>/interrupted.json``: the packs an interrupted push had landed
(``{"packs": [names]}``), so the push that resumes it can say they were already there.
Written crash-safe at the interrupt, removed when a push completes; read only here."""


def interrupted_packs(remote: Remote) -> set[str]:
    try:
        value = json.loads((remote.dir / INTERRUPTED).read_bytes())
    except (OSError, ValueError):
        return set()  # none, or unreadable: a count in a message, nothing depends on it
    packs = value.get("packs") if isinstance(value, dict) else None
    return {p for p in packs if isinstance(p, str)} if isinstance(packs, list) else set()


def record_interrupted(remote: Remote, packs: list[str]) -> None:
    with contextlib.suppress(OSError):
        remote.dir.mkdir(parents=True, exist_ok=True)
        write_durable(remote.dir / INTERRUPTED, json.dumps({"packs": sorted(packs)}).encode())


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """Hold SIGINT back (where the platform can) until the block ends, then let it land."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def interrupted(
    remote: Remote,
    waiting: list[tuple[str, Future[int]]],
    confirmed: Confirmed,
    packs: dict[str, int],
    landed: Callable[[str, Future[int]], None],
    resumed: set[str],
) -> None:
    """SIGINT: uploads not started are dropped, those under way finish (a create-only
    upload is never left half-published) and are confirmed like the rest, so the next
    push does not send them again; then one line says how far it got."""
    for _, future in waiting:
        future.cancel()
    wait_all([f for _, f in waiting if not f.cancelled()])
    for name, future in waiting:
        if not future.cancelled():  # a failed one is not confirmed: sent again next time
            with contextlib.suppress(Exception):
                landed(name, future)
    there = [name for name in packs if name in confirmed.packs]
    record_interrupted(remote, [*there, *resumed])
    raise PushInterrupted(
        f"interrupted: {len(there) + len(resumed)} of {len(packs) + len(resumed)} packs on "
        "the remote; "
        "run the same command to resume"
    ) from None
