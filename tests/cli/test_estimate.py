"""The estimate of the report's time left."""

from __future__ import annotations

import json

import pytest
from embedspec.conformance.cli.estimate import (
    RunningState,
    WaitingState,
    describe_duration,
    left_of_running,
    makespan,
    recorded_durations,
    time_left,
)


def test_makespan_lays_the_waiting_jobs_out_on_the_free_slots():
    assert makespan([], [(1, 10.0), (1, 10.0), (1, 5.0)], 2) == 15.0
    assert makespan([(1, 4.0)], [(2, 10.0)], 2) == 14.0  # waits for both slots
    assert makespan([(1, 4.0)], [(1, 3.0)], 2) == 4.0


def test_a_running_backend_uses_its_last_duration_then_its_test_counts():
    assert left_of_running(RunningState(1, 30.0, 100.0, (1, 10))) == 70.0
    assert left_of_running(RunningState(1, 120.0, 100.0, (60, 80))) == 40.0  # overran
    assert left_of_running(RunningState(1, 10.0, None, (5, 20))) == 30.0
    assert left_of_running(RunningState(1, 10.0, None, None)) is None


def test_time_left_needs_a_duration_for_every_backend():
    running = [RunningState(1, 10.0, None, (5, 20))]
    assert time_left(running, [WaitingState(1, 60.0)], capacity=2) == pytest.approx(60.0)
    # a backend never run before takes the mean of what is known (40 s and 60 s)
    assert time_left(running, [WaitingState(1, 60.0), WaitingState(1, None)], capacity=1) \
        == pytest.approx(30.0 + 60.0 + 50.0)
    assert time_left([RunningState(1, 1.0, None, None)], [], capacity=2) is None


def test_recorded_durations_come_from_completed_runs_on_the_same_device(tmp_path):
    history = tmp_path / "history.jsonl"
    entries = [
        {"schema_version": 1, "device": "cpu", "profile": "default",
         "backends": {"eager": {"status": "ok", "duration_s": 90.0},
                      "reference": {"status": "ok", "duration_s": 20.0, "profile": "quick"},
                      "old": {"status": "ok"}}},
        {"schema_version": 1, "device": "cpu", "profile": "default",
         "backends": {"eager": {"status": "crash", "duration_s": 3.0}}},
        {"schema_version": 1, "device": "cuda", "profile": "default",
         "backends": {"eager": {"status": "ok", "duration_s": 9.0}}},
    ]
    history.write_text("".join(json.dumps(e) + "\n" for e in entries))
    assert recorded_durations(history, device="cpu") == {("eager", "default"): 90.0,
                                                         ("reference", "quick"): 20.0}
    assert recorded_durations(tmp_path / "none.jsonl", device="cpu") == {}


def test_durations_read_as_words():
    assert [describe_duration(s) for s in (0.2, 42, 150, 3900)] == [
        "1 s", "42 s", "2 min", "1 h 5 min"]
