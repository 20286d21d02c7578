"""A small forkserver for SQL workers: one helper process with DuckDB and pyarrow imported forks each worker.

multiprocessing's forkserver would do, except that (through Python 3.11) every child it forks imports the
server's main script again — seconds per worker for `logwarden serve`. This one forks `sql_worker.main`
and nothing else. The server talks to the helper over a SOCK_SEQPACKET pair: each request carries a
worker's limits as JSON and the worker's two pipe ends as file descriptors (SCM_RIGHTS); the reply is
the worker's pid. Workers are reaped by the kernel (SIGCHLD ignored); the server watches and kills them
through a pidfd, so a pid can never name a different process. The helper exits when the server closes
its end (or dies).

The helper exits when the server's end of the socket closes (also when the server is killed), and each
worker asks the kernel to kill it when the helper exits (PR_SET_PDEATHSIG), so a statement never
outlives its server. Run as `python -m logwarden.store.duckdb.sql_forkserver <fd>`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection

import orjson

from logwarden.store.duckdb import sql_worker
from logwarden.store.duckdb.sql_worker import WorkerLimits

# Read once when Arrow and glibc malloc start, so set for the helper (workers inherit them): Arrow's
# default mimalloc pool reserves a large region at once, which the worker's data-size cap counts in full
# (measured: a 1 GiB cap failed a 320-byte allocation), and fewer malloc arenas keep a worker small.
WORKER_ENV = {"ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_ARENA_MAX": "2"}
_MAX_REQUEST = 4096
_PR_SET_PDEATHSIG = 1


class ForkServerError(Exception):
    """The helper process could not fork a worker."""


class SqlForkServer:
    """The server's handle on the helper: started on first use, restarted if it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None

    def spawn(self, control_fd: int, data_fd: int, limits: WorkerLimits) -> int:
        """Fork a worker that owns `control_fd` and `data_fd` (the caller closes its copies); its pid."""
        request = orjson.dumps(
            {"max_memory": limits.max_memory, "threads": limits.threads, "max_result_bytes": limits.max_result_bytes}
        )
        with self._lock:
            for attempt in range(2):
                sock = self._running()
                try:
                    socket.send_fds(sock, [request], [control_fd, data_fd])
                    reply = sock.recv(8)
                except OSError:
                    reply = b""
                if len(reply) == 8:
                    return int.from_bytes(reply, "little")
                self._stop()  # the helper died: start a new one and try once more
                if attempt:
                    break
        raise ForkServerError("the SQL worker forkserver could not start a worker")

    def close(self) -> None:
        """Stop the helper (workers already forked run on until they finish or are killed)."""
        with self._lock:
            self._stop()

    def _running(self) -> socket.socket:
        if self._process is not None and self._socket is not None and self._process.poll() is None:
            return self._socket
        self._stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env={**os.environ, **WORKER_ENV},
                stdin=subprocess.DEVNULL,
            )
        self._socket = ours
        return ours

    def _stop(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None:
            # Closing the socket ends the helper's loop; kill it if it does not go at once.
            try:
                self._process.wait(1.0)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def serve(sock: socket.socket) -> None:
    """The helper's loop: one fork per request until the server closes its end."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps workers; the server uses pidfds
    # No death signal for the helper itself: it would fire when the server *thread* that started it ends.
    # The helper exits when the server's end of the socket closes, which a dead server's always does.
    me = os.getpid()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, _MAX_REQUEST, 2)
        except OSError:
            return
        if not message:
            return
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        limits = WorkerLimits(**orjson.loads(message))
        pid = os.fork()
        if pid == 0:
            _run_worker(sock, fds, limits, me)
        for fd in fds:
            os.close(fd)
        sock.sendall(pid.to_bytes(8, "little"))


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent exits (Linux), so nothing outlives the server."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent exited before the request took effect
        os._exit(1)


def _run_worker(sock: socket.socket, fds: list[int], limits: WorkerLimits, parent: int) -> None:
    code = 0
    try:
        _die_with_parent(parent)
        sock.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sql_worker.main(Connection(fds[0]), Connection(fds[1]), limits)
    except BaseException:
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
