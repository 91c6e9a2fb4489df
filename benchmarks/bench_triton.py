"""GPU timings of the Triton backends: the forward gather against the device's copy
bandwidth, and the dense backward (atomic, deterministic) against the eager backend.

All ratios are measured in this one run: the device copy bandwidth is that of
``Tensor.copy_`` on a buffer of the same size as the gather moves; the forward's
bandwidth counts the rows read, the rows written and the ids read. The issue's target
is a forward at >= 80% of copy bandwidth with >= 64 MB moved.

On a machine without a CUDA device the kernels run through Triton's interpreter, whose
speed measures Python, not the kernels: the script says so and reports nothing.

Run: ``python benchmarks/bench_triton.py [--rows 1048576] [--dim 256] [--ids 262144]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from embedspec.backends.triton.runtime import runtime


def _milliseconds(fn: Callable[[], object], repeats: int = 50) -> float:
    """Median milliseconds per call of ``fn`` on the current CUDA stream."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1 << 20)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--ids", type=int, default=1 << 18)
    args = parser.parse_args()
    found = runtime()
    if found.mode != "cuda":
        print(f"Triton backends here: {found.where or found.reason}. Interpreter timings "
              "measure Python, not the kernels, and are not performance; run this on a "
              "machine with a CUDA device.")
        return
    from embedspec.backends.eager.kernels import lookup as eager_lookup
    from embedspec.backends.triton.kernels.backward_atomic import dense_grad_atomic
    from embedspec.backends.triton.kernels.backward_deterministic import (
        dense_grad_deterministic,
    )
    from embedspec.backends.triton.kernels.gather import gather_rows

    device = torch.device("cuda")
    weight = torch.randn(args.rows, args.dim, device=device)
    ids = torch.randint(0, args.rows, (args.ids,), device=device)
    moved = 2 * args.ids * args.dim * weight.element_size() + ids.numel() * ids.element_size()
    source = torch.empty(moved // 2, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    copy_ms = _milliseconds(lambda: target.copy_(source))
    gather_ms = _milliseconds(lambda: gather_rows(ids, weight))
    copy_bw, gather_bw = moved / copy_ms / 1e6, moved / gather_ms / 1e6
    print(f"forward gather: {moved / 1e6:.0f} MB moved, {gather_bw:.0f} GB/s; copy_ "
          f"{copy_bw:.0f} GB/s; ratio {gather_bw / copy_bw:.2f} (target >= 0.80)")
    grad = torch.randn(args.ids, args.dim, device=device)
    eager_weight = weight.clone().requires_grad_()
    eager_out = eager_lookup(ids, eager_weight)

    def eager_backward() -> None:
        eager_weight.grad = None
        eager_out.backward(grad, retain_graph=True)

    eager_ms = _milliseconds(eager_backward)
    for label, launcher in (("atomic", dense_grad_atomic),
                            ("deterministic", dense_grad_deterministic)):
        ms = _milliseconds(lambda launcher=launcher: launcher(grad, ids, None, args.rows, -1,
                                                              False))
        print(f"dense backward ({label}): {ms:.3f} ms; eager {eager_ms:.3f} ms; "
              f"eager / triton {eager_ms / ms:.2f}")


if __name__ == "__main__":
    main()
