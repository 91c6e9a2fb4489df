"""The native backend's GPU targets, measured on a CUDA device by
``benchmarks/bench_native.py``: the forward's fraction of the device's copy bandwidth and
the dense backward against torch's. Each measurement takes the device, so its code runs on
the CPU too (with the CPU clock)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from functools import partial

import torch
from embedspec.backends.native import library
from embedspec.conformance.bench.timing import make_clock
from native_rows import SHAPES, Row, make_ids, row


def device_median_ms(functions: dict[str, Callable[[], object]], repeats: int,
                     device: torch.device, calls: int = 10) -> dict[str, float]:
    """Median time in ms of one call of each function on ``device``, by the bench's clock
    for it (CUDA events on a GPU): ``calls`` back-to-back calls per sample, the functions
    interleaved per repetition."""
    clock = make_clock(device)
    for fn in functions.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            times[name].append(clock.block(fn, calls) * 1e3)
    return {name: statistics.median(v) for name, v in times.items()}


def device_forward_bandwidth(device: torch.device, repeats: int,
                             shape: tuple[int, int, tuple[int, ...]] = (50257, 768, (64, 1024)),
                             ) -> list[Row]:
    """The lookup (a fresh output) against a copy of as many bytes on ``device``: >= 0.8 of
    the copy bandwidth with >= 64 MB moved (read + write of the output's bytes: 403 MB at
    the default shape, so the kernel, not the call, sets the time)."""
    vocab, dim, ids_shape = shape
    weight = torch.randn(vocab, dim, device=device)
    ids = make_ids(vocab, ids_shape, "uniform").to(device)
    source = torch.randn(ids.numel(), dim, device=device)
    target = torch.empty_like(source)
    moved = 2 * source.nbytes
    t = device_median_ms({
        "native": lambda: torch.ops.embedspec.lookup(weight, ids, -1, False, False),
        "copy": lambda: target.copy_(source)}, repeats, device)
    native_gbs, copy_gbs = moved / t["native"] / 1e6, moved / t["copy"] / 1e6
    fraction = native_gbs / copy_gbs
    return [[f"forward, {moved / 1e6:.0f} MB moved", device.type, f"{t['native']:.3f}",
             f"{t['copy']:.3f}", f"{fraction:.2f} of copy", ">= 0.8",
             "yes" if fraction >= 0.8 else "NO",
             f"{native_gbs:.0f} GB/s vs copy {copy_gbs:.0f} GB/s"]]


def device_dense_backward(device: torch.device, repeats: int,
                          shapes: dict[str, tuple[int, int, tuple[int, ...]]] | None = None,
                          ) -> list[Row]:
    """The dense weight gradient on ``device`` against torch's
    (aten.embedding_dense_backward): >= 1.5x."""
    rows = []
    for label, (vocab, dim, ids_shape) in (shapes or dict(list(SHAPES.items())[:2])).items():
        for distribution in ("uniform", "zipf"):
            ids = make_ids(vocab, ids_shape, distribution).to(device)
            grad = torch.randn(*ids_shape, dim, device=device)
            arguments = (grad, ids, vocab, -1, False)
            t = device_median_ms({
                "native": partial(torch.ops.embedspec.dense_backward, *arguments),
                "torch": partial(torch.ops.aten.embedding_dense_backward, *arguments)},
                repeats, device)
            rows.append(row(f"dense backward {label} {distribution}", device.type,
                            t["native"], t["torch"], 1.5))
    return rows


DEVICE_MEASUREMENTS = (device_forward_bandwidth, device_dense_backward)


def cuda_unavailable() -> str | None:
    """Why the CUDA rows cannot be measured here, or None when they can."""
    if not torch.cuda.is_available():
        return "no CUDA device"
    if "embedding" not in library.cuda_families():
        return "the native CUDA kernels are not loaded (see embedspec list)"
    return None
