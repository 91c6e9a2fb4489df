"""Running the report's backends concurrently on the cores there are.

Each backend's run is a :class:`Job` that occupies ``slots`` cores while it runs: one
for a single-process backend, one per rank of the largest world of its profile for a
multi-process backend (capped at the capacity, so it then runs alone). At most
``capacity`` slots are busy at once (``--jobs``, default the cores of this machine).
Jobs start in :func:`start_order`: the widest first, then those whose duration no
earlier run recorded, then the longest expected; a job that does not fit lets the
next that does start (they never starve it: the widest come first).

:func:`run_jobs` runs each job in a thread (the job itself runs a child process) and
returns when every started job has finished. Once the cancel is requested (the report
was interrupted) no job starts, and the running ones stop themselves (see
:func:`embedspec.conformance.report.runs.run_backend`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from embedspec.conformance.report.model import BackendRun
from embedspec.conformance.report.runs import Cancel


@dataclass(frozen=True)
class Job:
    """One backend's run: its column ``name``, ``spec``, ``profile``, the cores it
    takes, the duration of its last run on this profile (None: unknown) and its
    place in the report's column order."""

    name: str
    spec: str
    profile: str
    slots: int = 1
    expected_s: float | None = None
    index: int = 0
    examples: int = 0


@dataclass(frozen=True)
class Started:
    """A job that is running, since ``since`` (``time.monotonic()``)."""

    job: Job
    since: float


def start_order(jobs: Sequence[Job]) -> list[Job]:
    """The order jobs start in: widest first (a job that needs every core should
    start while they are all free), then the ones without a recorded duration (a
    first run may be long), then longest expected, then most examples per test, then
    the column order."""
    return sorted(jobs, key=lambda j: (-j.slots, j.expected_s is not None,
                                       -(j.expected_s or 0.0), -j.examples, j.index))


def run_jobs(jobs: Sequence[Job], *, capacity: int, launch: Callable[[Job], BackendRun],
             cancel: Cancel, on_start: Callable[[Job], None],
             on_finish: Callable[[Job, BackendRun], None],
             on_tick: Callable[[list[Started], list[Job]], None], tick_every_s: float,
             on_cancel: Callable[[list[Started]], None]) -> tuple[dict[str, BackendRun],
                                                                  list[Job]]:
    """Run ``jobs`` with at most ``capacity`` slots busy; returns the finished runs by
    name and the jobs that never started (the report was interrupted first).

    ``on_tick`` is called every ``tick_every_s`` seconds with the running and waiting
    jobs, ``on_cancel`` once when the cancel is first seen. The callbacks run in the
    calling thread, so they may print without interleaving."""
    waiting = start_order(jobs)
    running: dict[str, Started] = {}
    finished: dict[str, BackendRun] = {}
    done: queue.Queue[tuple[Job, BackendRun]] = queue.Queue()
    free = capacity
    cancel_seen = False
    next_tick = time.monotonic() + tick_every_s

    def work(job: Job) -> None:
        try:
            run = launch(job)
        except BaseException as exc:  # a bug of the launcher: keep the report going
            run = BackendRun(job.name, "crash", None, message=f"the report could not run "
                             f"this backend: {type(exc).__name__}: {exc}", profile=job.profile)
        done.put((job, run))

    while waiting or running:
        if cancel.requested.is_set():
            if not cancel_seen:
                cancel_seen = True
                on_cancel(list(running.values()))
        else:
            for job in list(waiting):
                if job.slots <= free:
                    waiting.remove(job)
                    free -= job.slots
                    running[job.name] = Started(job, time.monotonic())
                    on_start(job)
                    threading.Thread(target=work, args=(job,), name=f"report-{job.name}",
                                     daemon=True).start()
        if not running:
            break  # cancelled before the waiting jobs started
        try:
            job, run = done.get(timeout=max(0.01, min(0.25, next_tick - time.monotonic())))
        except queue.Empty:
            pass
        else:
            del running[job.name]
            free += job.slots
            finished[job.name] = run
            on_finish(job, run)
        if time.monotonic() >= next_tick:
            next_tick = time.monotonic() + tick_every_s
            if running and not cancel.requested.is_set():
                on_tick(list(running.values()), list(waiting))
    return finished, waiting
