"""The report's scheduler: start order, the cores in use, and cancelling."""

from __future__ import annotations

import threading
import time

from embedspec.conformance.cli.schedule import Job, run_jobs, start_order
from embedspec.conformance.report.model import BackendRun
from embedspec.conformance.report.runs import Cancel


def test_widest_first_then_unknown_then_longest():
    jobs = [Job("reference", "reference", "quick", expected_s=50.0, index=0, examples=8),
            Job("torch_nn", "torch_nn", "default", expected_s=200.0, index=1, examples=50),
            Job("eager", "eager", "default", index=2, examples=50),
            Job("distributed", "distributed", "default", slots=2, expected_s=100.0, index=3),
            Job("demo", "demo", "quick", index=4, examples=8)]
    assert [j.name for j in start_order(jobs)] == ["distributed", "eager", "demo", "torch_nn",
                                                   "reference"]


def _run(jobs, capacity, *, seconds, cancel=None, cancel_after=None):
    cancel = cancel or Cancel()
    busy, peak, lock = [0], [0], threading.Lock()
    started, ticks = [], []

    def launch(job: Job) -> BackendRun:
        with lock:
            busy[0] += job.slots
            peak[0] = max(peak[0], busy[0])
        deadline = time.monotonic() + seconds[job.name]
        while time.monotonic() < deadline and not cancel.requested.is_set():
            time.sleep(0.01)
        with lock:
            busy[0] -= job.slots
        status = "interrupted" if cancel.requested.is_set() else "ok"
        return BackendRun(job.name, status, None)

    if cancel_after is not None:
        threading.Timer(cancel_after, cancel.requested.set).start()
    finished, never = run_jobs(
        jobs, capacity=capacity, launch=launch, cancel=cancel, on_start=started.append,
        on_finish=lambda job, run: None, on_tick=lambda r, w: ticks.append(len(r)),
        tick_every_s=0.05, on_cancel=lambda running: None)
    return finished, never, peak[0], [j.name for j in started], ticks


def test_jobs_run_at_once_within_the_capacity():
    jobs = [Job("a", "a", "quick"), Job("b", "b", "quick"), Job("c", "c", "quick"),
            Job("wide", "wide", "quick", slots=2)]
    finished, never, peak, started, ticks = _run(
        jobs, 2, seconds={"a": 0.3, "b": 0.1, "c": 0.1, "wide": 0.2})
    assert set(finished) == {"a", "b", "c", "wide"} and never == []
    assert peak == 2 and started[0] == "wide"
    assert ticks and max(ticks) <= 2


def test_a_cancel_starts_nothing_more_and_returns_the_jobs_never_started():
    jobs = [Job("a", "a", "quick"), Job("b", "b", "quick"), Job("c", "c", "quick")]
    start = time.monotonic()
    finished, never, _, started, _ = _run(jobs, 1, seconds={"a": 30, "b": 30, "c": 30},
                                          cancel_after=0.2)
    assert time.monotonic() - start < 5
    assert list(finished) == ["a"] and finished["a"].status == "interrupted"
    assert [j.name for j in never] == ["b", "c"] and started == ["a"]
