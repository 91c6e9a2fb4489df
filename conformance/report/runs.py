"""Running the suite on one backend in its own process, for the report.

Each backend runs as ``python -m embedspec.conformance.cli check ... --results F``
in a new process group with a time limit, its output streamed to ours as it
comes. A run that crashes (any exit without a results file) or outlives its time
limit (its whole process group is stopped) becomes a :class:`BackendRun` with
status "crash" or "timeout", carrying what the run recorded before it stopped, so
one broken backend never takes the report down with it.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, TextIO

from embedspec.conformance.report.model import BackendRun
from embedspec.conformance.session.results import load_partial, load_results, partial_path

#: Seconds a stopped run gets to exit after SIGTERM before SIGKILL.
GRACE_S = 10.0
TAIL_LINES = 40


def check_command(backend: str, *, profile: str, device: str, seed: int,
                  results: Path) -> list[str]:
    """The command that runs the suite on ``backend`` and writes ``results``."""
    return [
        sys.executable, "-m", "embedspec.conformance.cli", "check",
        "--backend", backend, "--profile", profile, "--device", device, "--seed", str(seed),
        "--results", str(results), "--quiet", "--", "--tb=no",
    ]


def run_backend(backend: str, *, profile: str, device: str, seed: int, timeout_s: float,
                results: Path, out: TextIO, version: str = "") -> BackendRun:
    """Run the suite on ``backend`` in a child process; never raises for its failures."""
    results.parent.mkdir(parents=True, exist_ok=True)
    results.unlink(missing_ok=True)
    partial_path(results).unlink(missing_ok=True)
    command = check_command(backend, profile=profile, device=device, seed=seed, results=results)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    pump = threading.Thread(target=_pump, args=(proc.stdout, out, tail), daemon=True)
    pump.start()
    timed_out = False
    try:
        returncode = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop(proc)
        returncode = proc.wait()
    _signal_group(proc, signal.SIGKILL)  # workers the run left behind hold our pipe open
    pump.join(timeout=GRACE_S)
    duration = time.monotonic() - start
    output_tail = "".join(tail)
    if timed_out:
        run = BackendRun(backend, "timeout", load_partial(results), version,
                         f"no result after {timeout_s:g} s; the run was stopped", duration,
                         output_tail)
    elif results.exists():
        message = "" if returncode in (0, 1) else f"the run exited with status {returncode}"
        run = BackendRun(backend, "ok", load_results(results), version, message, duration)
    else:
        run = BackendRun(backend, "crash", load_partial(results), version,
                         _describe_exit(returncode), duration, output_tail)
    partial_path(results).unlink(missing_ok=True)
    return run


def _pump(stream: IO[bytes], out: TextIO, tail: deque[str]) -> None:
    """Copy the child's output to ``out`` as it comes, keeping its last lines."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    line = ""
    while chunk := stream.read1(4096):  # type: ignore[attr-defined]
        text = decoder.decode(chunk)
        out.write(text)
        out.flush()
        for piece in text.splitlines(keepends=True):
            line += piece
            if line.endswith("\n"):
                tail.append(line)
                line = ""
    if line:
        tail.append(line + "\n")
        out.write("\n")
        out.flush()


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the child's process group, SIGKILL after the grace period."""
    _signal_group(proc, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=GRACE_S)
    _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    """Signal every process of the child's group (the child and any workers it left)."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, sig)
        elif proc.poll() is None:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        return


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the run was killed by {name} before it finished"
    return f"the run exited with status {returncode} without writing its results"
