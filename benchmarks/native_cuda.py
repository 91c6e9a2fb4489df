"""The native backend's GPU targets, measured on a CUDA device by
``benchmarks/bench_native.py``: the forward's fraction of the device's copy bandwidth and
the dense backward against torch's. Each measurement takes the device, so its code runs on
the CPU too (with the CPU clock)."""

from __future__ import annotations

from functools import partial

import torch
from embedspec.backends.native import library
from embedspec.conformance.bench.timing import make_clock
from native_rows import SHAPES, Block, Row, bandwidth_row, make_ids, median_ms, row


def device_block(device: torch.device, calls: int = 10) -> Block:
    """ms per call of ``calls`` back-to-back calls, by the bench's clock for ``device``
    (CUDA events on a GPU)."""
    clock = make_clock(device)
    return lambda fn: clock.block(fn, calls) * 1e3


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
    t = median_ms({"native": lambda: torch.ops.embedspec.lookup(weight, ids, -1, False, False),
                   "copy": lambda: target.copy_(source)}, repeats, device_block(device))
    return [bandwidth_row(f"forward, {moved / 1e6:.0f} MB moved", device.type, t["native"],
                          t["copy"], moved)]


def device_dense_backward(device: torch.device, repeats: int,
                          shapes: dict[str, tuple[int, int, tuple[int, ...]]] | None = None,
                          ) -> list[Row]:
    """The dense weight gradient on ``device`` against torch's
    (aten.embedding_dense_backward): >= 1.5x."""
    rows, block = [], device_block(device)
    for label, (vocab, dim, ids_shape) in (shapes or dict(list(SHAPES.items())[:2])).items():
        for distribution in ("uniform", "zipf"):
            ids = make_ids(vocab, ids_shape, distribution).to(device)
            grad = torch.randn(*ids_shape, dim, device=device)
            arguments = (grad, ids, vocab, -1, False)
            t = median_ms({
                "native": partial(torch.ops.embedspec.dense_backward, *arguments),
                "torch": partial(torch.ops.aten.embedding_dense_backward, *arguments)},
                repeats, block)
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
