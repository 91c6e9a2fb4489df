"""Worker processes spawned by the driver on this machine, and their cleanup.

Each worker runs ``python -m embedspec.conformance.distributed.worker`` in its own
session (so a kill reaches the whole process group), with one compute thread, the
loopback interface for gloo, and its output in a log file whose tail goes into
failure messages. Every spawned process is recorded until it has been killed and
reaped; :func:`kill_all` (registered with ``atexit``) ends any that remain. A
worker also exits by itself when the driver's connection closes or the driver
process dies (see :mod:`.worker`), so none outlives the driver.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from embedspec.conformance.distributed.messages import AUTHKEY_ENV

WORKER_MODULE = "embedspec.conformance.distributed.worker"

_live: dict[int, SpawnedWorker] = {}

#: ``faulthandler`` headers the stack of the interrupted thread with STACK_START and
#: ends every dump with the outermost frame of a ``python -m`` process, STACK_END.
STACK_START = "Current thread "
STACK_END = "in _run_module_as_main"


def loopback_interface() -> str:
    """The name of the loopback network interface (``lo`` on Linux, ``lo0`` on macOS)."""
    for _, name in socket.if_nameindex():
        if name.startswith("lo"):
            return name
    raise RuntimeError("no loopback network interface found; local worker pools need one")


class SpawnedWorker:
    """One worker process started by the driver."""

    def __init__(self, proc: int, popen: subprocess.Popen, log_path: Path) -> None:
        self.proc = proc
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_code(self, wait_s: float = 0.0) -> int | None:
        """The exit status (negative: killed by that signal), or None while it runs."""
        try:
            return self.popen.wait(timeout=wait_s) if wait_s > 0 else self.popen.poll()
        except subprocess.TimeoutExpired:
            return None

    def dump_stacks(self, wait_s: float) -> None:
        """Ask the worker to write its threads' Python stacks to its log (SIGUSR1) and
        wait, at most ``wait_s``, until the stack of the thread it interrupted is there."""
        if self.popen.poll() is not None:
            return
        start = self._log_size()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGUSR1)
        wait_until(lambda: STACK_END in self._log_text(start), wait_s)

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _log_text(self, start: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(start)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the worker's process group and reap it."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)
        _live.pop(self.pid, None)

    def log_tail(self, max_lines: int = 30) -> str:
        """The end of the worker's log: the interrupted thread's stack of the last stack
        dump if there is one (where it was stuck, innermost frame first), else the last
        ``max_lines`` lines."""
        text = self._log_text()
        marker = text.rfind(STACK_START)
        if marker >= 0:
            return "\n".join(text[marker:].splitlines()[:max_lines])
        return "\n".join(text.splitlines()[-max_lines:])


def spawn_worker(proc: int, nprocs: int, pool: str, driver: tuple[str, int], authkey: bytes,
                 log_dir: Path) -> SpawnedWorker:
    """Start worker ``proc`` of a local pool of ``nprocs`` that connects to ``driver``."""
    env = dict(os.environ)
    env.update({
        AUTHKEY_ENV: authkey.hex(),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "GLOO_SOCKET_IFNAME": loopback_interface(),
        "PYTHONUNBUFFERED": "1",
    })
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    log_path = log_dir / f"{pool}-proc{proc}.log"
    cmd = [sys.executable, "-m", WORKER_MODULE, "--driver", f"{driver[0]}:{driver[1]}",
           "--pool", pool, "--proc", str(proc), "--nprocs", str(nprocs)]
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, env=env, cwd=os.getcwd(),
                                 start_new_session=True)
    worker = SpawnedWorker(proc, popen, log_path)
    _live[popen.pid] = worker
    return worker


def kill_all() -> None:
    """Kill and reap every worker still recorded."""
    for worker in list(_live.values()):
        worker.kill()


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def wait_until(predicate, timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passes; its last value."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
    return True


atexit.register(kill_all)
