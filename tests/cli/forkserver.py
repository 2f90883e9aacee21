"""A fork server for the tests' ``dvault`` runs: the real command line in a real process,
without paying the interpreter's start-up and dvault's imports on each of them.

A test suite of this size runs ``dvault`` as a child process several thousand times;
each run spends ~0.1 s (more with boto3 for an S3 remote) starting Python and importing
before the command does anything. The server is one interpreter per pytest worker that
imports dvault (and boto3) once and forks a child per run: the child gets the run's
working directory, environment, argv and its own stdin (``/dev/null``), stdout and stderr
(files the test reads), runs ``dvault.cli.main`` exactly as the console script does,
then exits as the interpreter would (non-daemon threads joined, atexit handlers run) with
the command's exit code. What it does not cover, the start-up itself (lazy imports,
``--help`` from the installed script), is tested with real child processes
(tests/cli/test_cli_help.py, tests/cli/test_cli_completion.py, tests/test_api.py).

``DVAULT_TEST_FORK=0`` runs every command as a fresh ``dvault`` process instead.

Run as a script, this file is the server: ``python forkserver.py SOCKET``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

_STARTUP_VARS = ("LANG", "LC_ALL", "LC_CTYPE")
"""Besides ``PYTHON*``: what the interpreter reads once at start-up (the encodings)."""


def _startup_key(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The part of ``env`` a forked child cannot take on: one server per distinct key."""
    return tuple(
        sorted((k, v) for k, v in env.items() if k.startswith("PYTHON") or k in _STARTUP_VARS)
    )


class ForkServer:
    """The client end: starts the server and runs commands through it."""

    def __init__(self, env: dict[str, str]) -> None:
        self._dir = tempfile.mkdtemp(prefix="dvault-fork-")
        self.path = os.path.join(self._dir, "sock")
        server_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        server_env.update(dict(_startup_key(env)))
        self._proc = subprocess.Popen(
            [sys.executable, __file__, self.path],
            stdin=subprocess.PIPE,  # the server exits when this worker's end closes
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=server_env,
            cwd=self._dir,
        )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], 60)
        line = self._proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self._proc.kill()
            raise RuntimeError(f"the fork server did not start: {line!r}")

    def run(
        self, args: list[str], cwd: Path, env: dict[str, str], timeout: float
    ) -> tuple[int, bytes, bytes]:
        """``dvault ARGS`` in a child forked from the server: (exit code, stdout, stderr)."""
        payload = json.dumps({"args": args, "cwd": str(cwd), "env": env}).encode()
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn,
        ):
            conn.connect(self.path)
            socket.send_fds(conn, [struct.pack("!I", len(payload))], [out.fileno(), err.fileno()])
            conn.sendall(payload)
            conn.settimeout(timeout)
            pid = code = None
            try:
                pid = _unpack(_recv_exactly(conn, 4))
                reply = _recv_exactly(conn, 4)
                code = _unpack(reply) if reply else None
            except TimeoutError:
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(["dvault", *args], timeout) from None
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        if code is None:  # killed before it could say: as a shell reports a signal
            return -signal.SIGKILL, stdout, stderr + b"\n[the forked dvault ended abruptly]\n"
        return code, stdout, stderr


def _unpack(data: bytes) -> int:
    return int(struct.unpack("!i", data)[0])


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    """``n`` bytes, or b"" when the peer closed first."""
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


_servers: dict[tuple[tuple[str, str], ...], ForkServer | None] = {}
_lock = threading.Lock()


def server_for(env: dict[str, str]) -> ForkServer | None:
    """This worker's server for ``env``'s start-up settings (None: run real processes)."""
    if os.environ.get("DVAULT_TEST_FORK", "1") == "0" or env.get("DVAULT_TEST_FORK") == "0":
        return None
    key = _startup_key(env)
    with _lock:
        if key not in _servers:
            try:
                _servers[key] = ForkServer(env)
            except (OSError, RuntimeError):
                _servers[key] = None  # this machine cannot: fresh processes, as before
        return _servers[key]


# --- the server ------------------------------------------------------------------------


def _preload() -> None:
    """Import what the commands import, once, before any fork (no thread may be running)."""
    import importlib
    import pkgutil

    import dvault
    import dvault.cli

    for info in pkgutil.walk_packages(dvault.__path__, "dvault."):
        with contextlib.suppress(Exception):
            importlib.import_module(info.name)
    with contextlib.suppress(ImportError):
        import boto3  # noqa: F401  (S3 remotes)


def _serve(path: str) -> None:
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).parent.resolve():
        del sys.path[0]  # the console script has no tests/cli on its path
    _preload()
    if threading.active_count() != 1:
        raise SystemExit("a thread is running after the imports: forking is not safe")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in ready:
            return  # the worker is gone
        conn, _ = listener.accept()
        try:
            header, fds, _, _ = socket.recv_fds(conn, 4, 2)
            size = _unpack(header + _recv_exactly(conn, 4 - len(header)))
            request = json.loads(_recv_exactly(conn, size))
        except (OSError, ValueError, struct.error):
            conn.close()
            continue
        if os.fork() == 0:
            listener.close()
            _child(conn, request, fds)  # never returns
        conn.close()
        for fd in fds:
            os.close(fd)


def _child(conn: socket.socket, request: dict[str, object], fds: list[int]) -> None:
    """One ``dvault`` run, then this process's exit, as the interpreter ends one."""
    import atexit
    import traceback

    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # so the command can wait for git
        devnull = os.open(os.devnull, os.O_RDONLY)
        for fd, target in ((devnull, 0), (fds[0], 1), (fds[1], 2)):
            os.dup2(fd, target)
            os.close(fd)
        args = [str(a) for a in request["args"]]  # type: ignore[attr-defined]
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update(request["env"])  # type: ignore[call-overload]
        sys.argv = ["dvault", *args]
        conn.sendall(struct.pack("!i", os.getpid()))
        try:
            from dvault.cli import main

            main(args)
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        threading._shutdown()  # type: ignore[attr-defined]  # non-daemon threads, then
        atexit._run_exitfuncs()  # the atexit handlers: the interpreter's exit order
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        code &= 0xFF  # what a parent sees of a process's exit status
        conn.sendall(struct.pack("!i", code))
    finally:
        os._exit(code)


if __name__ == "__main__":
    _serve(sys.argv[1])
