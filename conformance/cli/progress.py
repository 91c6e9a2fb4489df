"""What ``embedspec report`` prints while it runs: a line as each backend starts and
finishes, and every so often the progress of the running ones with the estimated time
left (:mod:`.estimate`). Every line is printed from the report's main thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from embedspec.conformance.cli.estimate import (
    RunningState,
    WaitingState,
    describe_duration,
    time_left,
)
from embedspec.conformance.cli.schedule import Job, Started
from embedspec.conformance.report.model import BackendRun


class ProgressPrinter:
    """Prints the report's progress to ``out``; ``progress_of(job)`` gives a running
    job's (tests with a result, tests collected), or None."""

    def __init__(self, total: int, capacity: int, out: TextIO,
                 progress_of: Callable[[Job], tuple[int, int] | None],
                 log_of: Callable[[Job], Path]) -> None:
        self.total, self.capacity, self.out = total, capacity, out
        self.progress_of, self.log_of = progress_of, log_of
        self.started = 0
        self.number: dict[str, int] = {}
        self.finished_s: list[float] = []

    def line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def start(self, job: Job) -> None:
        self.started += 1
        self.number[job.name] = self.started
        cores = f", {job.slots} cores" if job.slots > 1 else ""
        expected = (f", last run {describe_duration(job.expected_s)}"
                    if job.expected_s is not None else "")
        self.line(f"{self._tag(job)}: started (profile {job.profile}{cores}{expected})")

    def finish(self, job: Job, run: BackendRun) -> None:
        self.finished_s.append(run.duration_s)
        where = "" if run.status == "ok" else f"; its output: {self.log_of(job)}"
        self.line(f"{self._tag(job)}: {summary(run)}{where}")

    def tick(self, running: Sequence[Started], waiting: Sequence[Job]) -> None:
        now = time.monotonic()
        states, parts = [], []
        for started in running:
            progress = self.progress_of(started.job)
            states.append(RunningState(started.job.slots, now - started.since,
                                       started.job.expected_s, progress))
            parts.append(f"{started.job.name} {progress[0]}/{progress[1]} tests"
                         if progress else f"{started.job.name} starting")
        left = time_left(states, [WaitingState(j.slots, j.expected_s) for j in waiting],
                         capacity=self.capacity, finished_s=self.finished_s)
        estimate = f"about {describe_duration(left)} left" if left is not None else \
            "no estimate of the time left yet"
        self.line(f"  progress: {', '.join(parts)}; {len(self.finished_s)} of {self.total} "
                  f"backends finished, {len(waiting)} waiting; {estimate}")

    def _tag(self, job: Job) -> str:
        return f"[{self.number.get(job.name, '?')}/{self.total}] {job.name}"


def summary(run: BackendRun) -> str:
    """``finished in 4.0 s: 3 passed, 1 failed`` / ``CRASH (why) in 2.0 s: ...``."""
    if run.results is None:
        counts = ""
    else:
        c = run.results.counts()
        counts = ": " + ", ".join(f"{n} {outcome}" for outcome, n in c.items() if n)
        if run.results.pending:
            counts += f", {len(run.results.pending)} not run"
    status = "finished" if run.status == "ok" else f"{run.status.upper()} ({run.message})"
    note = f" ({run.message})" if run.status == "ok" and run.message else ""
    return f"{status}{note} in {run.duration_s:.1f} s{counts}"
