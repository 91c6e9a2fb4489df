"""The pieces of ``benchmarks/bench_native.py``: the table row (ratio and verdict against a
target), the bound notes printed beside the forward ratios, and the GPU measurements
(whose code runs on the CPU with the CPU timer)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def _script(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _script("bench_native")


@pytest.fixture(scope="module")
def rows() -> ModuleType:
    return _script("native_rows")


@pytest.fixture(scope="module")
def gpu() -> ModuleType:
    module = _script("native_cuda")
    module.library.load()
    return module


def test_a_row_gives_baseline_over_native_and_whether_it_meets_the_target(rows):
    assert rows.row("forward", 1, 2.0, 3.0, 1.3, "n") == [
        "forward", 1, "2.000", "3.000", "1.50x", ">= 1.3x", "yes", "n"]
    assert rows.row("forward", 2, 2.0, 2.4, 1.3)[4:7] == ["1.20x", ">= 1.3x", "NO"]


def test_a_row_without_a_target_has_no_verdict(rows):
    assert rows.row("then read", 1, 1.0, 2.0, None)[4:7] == ["2.00x", "-", "-"]


def test_a_bandwidth_row_gives_the_fraction_of_the_copy_bandwidth(rows):
    assert rows.bandwidth_row("forward", "cuda", 2.0, 1.5, 3 * 10**6) == [
        "forward", "cuda", "2.000", "1.500", "0.75 of copy", ">= 0.8", "NO",
        "1.5 GB/s vs copy 2.0 GB/s"]


def test_ids_are_drawn_as_the_bench_scenarios_draw_them(rows):
    from embedspec.conformance.bench.ids import draw_ids
    from embedspec.conformance.bench.scenarios import Table

    ids = rows.make_ids(1000, (4, 8), "zipf")
    table = Table("t", "t", 1000, 0, distribution="zipf", alpha=rows.ZIPF_EXPONENT)
    assert ids.shape == (4, 8)
    assert torch.equal(ids.flatten(), draw_ids(table, 32, torch.Generator().manual_seed(0)))
    assert rows.make_ids(1000, (32,), "uniform").max() < 1000


def test_timers_time_every_function_once_per_repetition(rows):
    calls = {"a": 0, "b": 0}

    def count(name: str) -> None:
        calls[name] += 1

    times = rows.times_ms({"a": lambda: count("a"), "b": lambda: count("b")}, 3)
    assert {name: len(v) for name, v in times.items()} == {"a": 3, "b": 3}
    assert calls == {"a": 4, "b": 4}  # one warm-up call each


def test_the_bound_note_gives_both_bounds_as_the_baselines_best_time_over_theirs(bench):
    times = {"torch": 1.5, "torch_best": 1.2, "one_row": 0.6, "copy": 0.8}
    assert bench.bound_note(times) == (
        "bound 2.0x: the call on ids all 0 takes 0.600 ms; 1.5x: a fresh copy of the "
        "output's bytes takes 0.800 ms (best times)")


def test_no_bound_is_timed_or_given_for_outputs_bound_by_page_faults(bench):
    from embedspec.backends.native import NativeBackend
    from embedspec.reference.configs import EmbeddingConfig

    dim = 64
    layer = bench.build(EmbeddingConfig(num_embeddings=8, embedding_dim=dim), NativeBackend)
    reference = bench.torch_embedding(layer)
    small = torch.zeros(4, dtype=torch.long)
    large = torch.zeros(bench.BOUND_MAX_BYTES // (dim * 4), dtype=torch.long)
    assert set(bench.with_bound(layer, reference, small, 1)) == {
        "native", "torch", "torch_best", "one_row", "copy"}
    times = bench.with_bound(layer, reference, large, 1)
    assert set(times) == {"native", "torch"}
    assert bench.bound_note(times).startswith("no bound")


def test_the_device_rows_measure_on_the_given_device(gpu):
    cpu = torch.device("cpu")
    (bandwidth,) = gpu.device_forward_bandwidth(cpu, 1, (64, 8, (4, 16)))
    assert bandwidth[1] == "cpu" and bandwidth[4].endswith(" of copy")
    backward = gpu.device_dense_backward(cpu, 1, {"small": (64, 8, (4, 16))})
    assert [r[0] for r in backward] == ["dense backward small uniform",
                                        "dense backward small zipf"]
    assert all(r[4].endswith("x") and r[5] == ">= 1.5x" for r in backward)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_rows_say_why_they_are_not_measured_without_a_gpu(gpu):
    assert gpu.cuda_unavailable() == "no CUDA device"
