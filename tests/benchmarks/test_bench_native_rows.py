"""The table rows of ``benchmarks/bench_native.py``: ratio and verdict against a target,
and the bound notes printed beside the forward ratios."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "bench_native.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_native", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_row_gives_baseline_over_native_and_whether_it_meets_the_target(bench):
    assert bench.row("forward", 1, 2.0, 3.0, 1.3, "n") == [
        "forward", 1, "2.000", "3.000", "1.50x", ">= 1.3x", "yes", "n"]
    assert bench.row("forward", 2, 2.0, 2.4, 1.3)[4:7] == ["1.20x", ">= 1.3x", "NO"]


def test_a_row_without_a_target_has_no_verdict(bench):
    assert bench.row("then read", 1, 1.0, 2.0, None)[4:7] == ["2.00x", "-", "-"]


def test_the_bound_note_gives_both_bounds_as_the_baselines_best_time_over_theirs(bench):
    times = {"torch": 1.5, "torch_best": 1.2, "one_row": 0.6, "copy": 0.8}
    assert bench.bound_note(times, 1 << 20) == (
        "bound 2.0x: the call on ids all 0 takes 0.600 ms; 1.5x: a fresh copy of the "
        "output's bytes takes 0.800 ms (best times)")


def test_no_bound_is_given_for_outputs_bound_by_page_faults(bench):
    times = {"torch": 1.5, "torch_best": 1.2, "one_row": 0.6, "copy": 0.8}
    note = bench.bound_note(times, bench.BOUND_MAX_BYTES)
    assert note.startswith("no bound")
