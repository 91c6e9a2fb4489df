"""Running the suite on one backend in its own process, for the report.

Each backend runs as ``python -m embedspec.conformance.cli check ... --results F``
in a new process group with a time limit, its output copied to ``out`` as it comes
(the report sends it to the backend's log file). A run ends in one of four ways,
which become a :class:`BackendRun`:

* ``ok``: the run exited by itself and its results file says it completed (every
  collected test has a result);
* ``crash``: it exited without a results file, or with one marked incomplete;
* ``timeout``: it outlived its time limit and was stopped;
* ``interrupted``: the report was interrupted (:class:`Cancel`) and stopped it.

Stopping a run sends SIGTERM to the check process (which stops like on Ctrl-C and
writes its results file, marked incomplete), then, after :data:`GRACE_S` or at once
when the cancel is urgent, SIGKILL to its whole process group (its workers too). A
stopped or crashed run carries what it recorded before it stopped, so one broken
backend never takes the report down with it, and nothing incomplete passes for
complete.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from embedspec.conformance.report.model import BackendRun, RunStatus
from embedspec.conformance.session.results import (
    RunResults,
    load_partial,
    load_results,
    partial_path,
)

#: Seconds a stopped run gets to exit after SIGTERM before SIGKILL.
GRACE_S = 10.0
TAIL_LINES = 40
#: How often a waiting run looks at its time limit and at the cancel.
POLL_S = 0.2
#: pytest's exit status when no test was selected, as recorded in the results file.
PYTEST_NO_TESTS = 5


@dataclass
class Cancel:
    """Set by the report when it is interrupted: ``requested`` stops every run (SIGTERM,
    then SIGKILL after the grace period), ``urgent`` skips the grace period."""

    requested: threading.Event = field(default_factory=threading.Event)
    urgent: threading.Event = field(default_factory=threading.Event)


def check_command(backend: str, *, profile: str, device: str, seed: int, results: Path,
                  keyword: str | None = None) -> list[str]:
    """The command that runs the suite on ``backend`` (a name or spec), writes
    ``results``, and runs only the tests matching ``keyword`` when given."""
    command = [
        sys.executable, "-m", "embedspec.conformance.cli", "check",
        "--backend", backend, "--profile", profile, "--device", device, "--seed", str(seed),
        "--results", str(results), "--quiet",
    ]
    if keyword:
        command += ["-k", keyword]
    return [*command, "--", "--tb=no"]


def run_backend(backend: str, *, profile: str, device: str, seed: int, timeout_s: float,
                results: Path, out: TextIO, version: str = "", spec: str | None = None,
                keyword: str | None = None, env: Mapping[str, str] | None = None,
                cancel: Cancel | None = None) -> BackendRun:
    """Run the suite on the backend named ``backend`` (loaded from ``spec``, default the
    name) in a child process; never raises for its failures. ``env`` adds variables to
    the child's environment."""
    results.parent.mkdir(parents=True, exist_ok=True)
    results.unlink(missing_ok=True)
    partial_path(results).unlink(missing_ok=True)
    options = {"keyword": keyword} if keyword else {}
    command = check_command(spec or backend, profile=profile, device=device, seed=seed,
                            results=results, **options)
    child_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    cancel = cancel or Cancel()
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=child_env, start_new_session=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    pump = threading.Thread(target=_pump, args=(proc.stdout, out, tail), daemon=True)
    pump.start()
    stopped: RunStatus | None = None
    while (returncode := _wait(proc, POLL_S)) is None:
        if cancel.requested.is_set():
            stopped = "interrupted"
        elif time.monotonic() - start > timeout_s:
            stopped = "timeout"
        if stopped:
            _stop(proc, cancel)
            returncode = proc.wait()
            break
    _signal_group(proc, signal.SIGKILL)  # workers the run left behind hold our pipe open
    pump.join(timeout=GRACE_S)
    duration = time.monotonic() - start
    run = _outcome(backend, stopped, returncode, results, timeout_s)
    run.version, run.duration_s, run.profile = version, duration, profile
    if run.status != "ok":
        run.output_tail = "".join(tail)
    partial_path(results).unlink(missing_ok=True)
    return run


def _outcome(backend: str, stopped: RunStatus | None, returncode: int, path: Path,
             timeout_s: float) -> BackendRun:
    """How the run ended, with what it recorded: the results file when it wrote one
    (complete or not), else the partial file."""
    recorded: RunResults | None
    unreadable = ""
    try:
        recorded = load_results(path) if path.exists() else load_partial(path)
    except ValueError as exc:
        recorded, unreadable = load_partial(path), f"; {exc}"
    if recorded is not None and recorded.complete and path.exists() and not unreadable:
        # finished, even if it was being stopped as it did
        return BackendRun(backend, "ok", recorded, message=_exit_note(returncode, recorded))
    if stopped == "timeout":
        message = f"no result after {timeout_s:g} s; the run was stopped"
    elif stopped == "interrupted":
        message = "the report was interrupted; the run was stopped before it finished"
    elif path.exists() and not unreadable:
        message = (f"the run ended (status {returncode}) before every test finished; its "
                   "results file is marked incomplete")
    else:
        message = _describe_exit(returncode) + unreadable
    return BackendRun(backend, stopped or "crash", recorded, message=message)


def _exit_note(returncode: int, results: RunResults) -> str:
    """Why a completed run's status is worth a word: none for 0 and 1 (failures)."""
    if results.exit_status == PYTEST_NO_TESTS:
        return "no test of this backend was selected"
    return "" if returncode in (0, 1) else f"the run exited with status {returncode}"


def _wait(proc: subprocess.Popen, timeout_s: float) -> int | None:
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None


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


def _stop(proc: subprocess.Popen, cancel: Cancel) -> None:
    """SIGTERM to the child (it stops as on Ctrl-C and writes what it has), SIGKILL to
    its process group after the grace period, or as soon as the cancel is urgent."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and not cancel.urgent.is_set():
        if _wait(proc, POLL_S) is not None:
            break
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
