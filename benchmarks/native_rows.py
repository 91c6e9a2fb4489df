"""What the native benchmark's measurements share: the shapes and ids they time, the
timer (interleaved repetitions, their median) and the table rows each ratio is printed
in."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from embedspec.conformance.bench.ids import draw_ids
from embedspec.conformance.bench.scenarios import Table

SHAPES = {"32000x512": (32000, 512, (4, 512)), "gpt2": (50257, 768, (8, 1024)),
          "32000x512-512ids": (32000, 512, (1, 512))}
ZIPF_EXPONENT = 1.1
Row = list
#: Times one call of a function, in ms.
Block = Callable[[Callable[[], object]], float]


def wall_ms(fn: Callable[[], object]) -> float:
    """Wall time in ms of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def times_ms(functions: dict[str, Callable[[], object]], repeats: int,
             block: Block = wall_ms) -> dict[str, list[float]]:
    """Times in ms of each function by ``block``, after one warm-up call each, the
    functions interleaved per repetition."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for fn in functions.values():
        fn()
    for _ in range(repeats):
        for name, fn in functions.items():
            times[name].append(block(fn))
    return times


def median_ms(functions: dict[str, Callable[[], object]], repeats: int,
              block: Block = wall_ms) -> dict[str, float]:
    """Median time in ms of each function (:func:`times_ms`)."""
    return {name: statistics.median(v) for name, v in times_ms(functions, repeats, block).items()}


def make_ids(rows: int, shape: tuple[int, ...], distribution: str) -> torch.Tensor:
    """Ids of ``shape`` over ``rows`` rows, ``uniform`` or ``zipf`` (exponent
    :data:`ZIPF_EXPONENT`, hot rows scattered), drawn as the bench's scenarios draw them
    (:func:`~embedspec.conformance.bench.ids.draw_ids`), seed 0."""
    table = Table("bench-native", "bench_native.py", rows, 0, distribution=distribution,
                  alpha=ZIPF_EXPONENT)
    count = int(torch.tensor(shape).prod())
    return draw_ids(table, count, torch.Generator().manual_seed(0)).view(shape)


def row(name: str, on: int | str, native: float, baseline: float, target: float | None,
        note: str = "") -> Row:
    """A table row (``on``: the thread count, or the device); ``target`` None for a figure
    printed beside a target, not one."""
    ratio = baseline / native
    met = "-" if target is None else "yes" if ratio >= target else "NO"
    return [name, on, f"{native:.3f}", f"{baseline:.3f}", f"{ratio:.2f}x",
            "-" if target is None else f">= {target}x", met, note]


def bandwidth_row(name: str, on: int | str, native: float, copy: float, moved: int) -> Row:
    """A row of the gather's fraction of the copy bandwidth (``moved`` bytes in ``native``
    and ``copy`` ms): target >= 0.8."""
    native_gbs, copy_gbs = moved / native / 1e6, moved / copy / 1e6
    fraction = native_gbs / copy_gbs
    return [name, on, f"{native:.3f}", f"{copy:.3f}", f"{fraction:.2f} of copy", ">= 0.8",
            "yes" if fraction >= 0.8 else "NO",
            f"{native_gbs:.1f} GB/s vs copy {copy_gbs:.1f} GB/s"]
