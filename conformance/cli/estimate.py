"""The report's estimate of the time left, printed with its progress lines.

A running backend's time left comes from the duration its last run on the same
profile and device took (``history.jsonl`` of the output folder) while it is within
that, else from its tests so far (elapsed x tests left / tests done). A backend that
has not started takes its recorded duration, or, for one never recorded, the mean of
the durations known or projected so far. The backends are then laid out on the
cores as the report starts them (:func:`makespan`), which gives the estimate; it is
None until every backend has a duration.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunningState:
    """A running backend: cores, seconds since it started, its recorded duration
    (None: unknown) and its progress (tests with a result, tests collected)."""

    slots: int
    elapsed_s: float
    expected_s: float | None
    progress: tuple[int, int] | None


@dataclass(frozen=True)
class WaitingState:
    slots: int
    expected_s: float | None


def recorded_durations(history_path: Path, *, device: str) -> dict[tuple[str, str], float]:
    """(backend, profile) -> seconds of its latest completed run on ``device`` in the
    history file (entries without durations are skipped)."""
    from embedspec.conformance.report.history import read_history

    entries, _ = read_history(history_path)
    found: dict[tuple[str, str], float] = {}
    for entry in entries:
        if entry.get("device") != device:
            continue
        backends: Mapping[str, Any] = entry.get("backends", {})
        for name, data in backends.items():
            seconds = data.get("duration_s") if isinstance(data, dict) else None
            if data.get("status") == "ok" and isinstance(seconds, int | float) and seconds > 0:
                found[(name, str(data.get("profile") or entry.get("profile")))] = float(seconds)
    return found


def left_of_running(state: RunningState) -> float | None:
    """Seconds a running backend still needs, or None when nothing tells."""
    by_count = None
    if state.progress is not None and state.progress[0] > 0:
        done, total = state.progress
        by_count = state.elapsed_s * max(total - done, 0) / done
    if state.expected_s is not None and state.elapsed_s < state.expected_s:
        return state.expected_s - state.elapsed_s
    return by_count


def time_left(running: Sequence[RunningState], waiting: Sequence[WaitingState], *,
              capacity: int, finished_s: Sequence[float] = ()) -> float | None:
    """Seconds until every backend has finished, or None while some have no estimate.
    ``finished_s`` are the durations of the backends that finished in this run."""
    left = [left_of_running(r) for r in running]
    known = [*finished_s, *(r.elapsed_s + x for r, x in zip(running, left, strict=True)
                            if x is not None)]
    known += [w.expected_s for w in waiting if w.expected_s is not None]
    fallback = sum(known) / len(known) if known else None
    durations = [w.expected_s if w.expected_s is not None else fallback for w in waiting]
    if any(x is None for x in left) or any(d is None for d in durations):
        return None
    return makespan([(r.slots, x) for r, x in zip(running, left, strict=True)],
                    [(w.slots, d) for w, d in zip(waiting, durations, strict=True)],
                    capacity)


def makespan(running: Sequence[tuple[int, float]], waiting: Sequence[tuple[int, float]],
             capacity: int) -> float:
    """When the last job ends: the running ones (slots, seconds left) hold their slots
    until they end; the waiting ones (slots, seconds) start in order, each as soon as
    enough slots are free."""
    ends = [(left, slots) for slots, left in running]
    heapq.heapify(ends)
    free = capacity - sum(slots for slots, _ in running)
    now, last = 0.0, max((left for _, left in running), default=0.0)
    for slots, seconds in waiting:
        slots = min(slots, capacity)
        while free < slots and ends:
            now, released = heapq.heappop(ends)
            free += released
        heapq.heappush(ends, (now + seconds, slots))
        free -= slots
        last = max(last, now + seconds)
    return last


def describe_duration(seconds: float) -> str:
    """``40 s``, ``3 min``, ``1 h 5 min``."""
    if seconds < 60:
        return f"{max(round(seconds), 1)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
