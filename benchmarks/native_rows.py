"""What the native benchmark's measurements share: the shapes and ids they time, the
timers (interleaved repetitions, their median) and the table row each ratio is printed
in."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

SHAPES = {"32000x512": (32000, 512, (4, 512)), "gpt2": (50257, 768, (8, 1024)),
          "32000x512-512ids": (32000, 512, (1, 512))}
ZIPF_EXPONENT = 1.1
Row = list


def times_ms(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall times in ms of each function, the functions interleaved per repetition."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for fn in functions.values():
        fn()
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3)
    return times


def median_ms(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time in ms of each function (:func:`times_ms`)."""
    return {name: statistics.median(v) for name, v in times_ms(functions, repeats).items()}


def make_ids(rows: int, shape: tuple[int, ...], distribution: str) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    count = int(torch.tensor(shape).prod())
    if distribution == "uniform":
        return torch.randint(0, rows, shape, generator=generator)
    weights = torch.arange(1, rows + 1, dtype=torch.float64).pow_(-ZIPF_EXPONENT)
    return torch.multinomial(weights, count, replacement=True, generator=generator).view(shape)


def row(name: str, threads: int, native: float, baseline: float, target: float | None,
        note: str = "") -> Row:
    """A table row; ``target`` None for a figure printed beside a target, not one."""
    ratio = baseline / native
    met = "-" if target is None else "yes" if ratio >= target else "NO"
    return [name, threads, f"{native:.3f}", f"{baseline:.3f}", f"{ratio:.2f}x",
            "-" if target is None else f">= {target}x", met, note]
