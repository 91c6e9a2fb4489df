"""Small sample arguments for every ``embedspec`` operator, for opcheck."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


class Sample(NamedTuple):
    op: str
    args: tuple
    grad: bool  # whether some input requires grad

    def __str__(self) -> str:
        return f"{self.op}-{'grad' if self.grad else 'nograd'}"


def _ids() -> torch.Tensor:
    # transposed int32 ids with a repeat: strides and accumulation both exercised
    return torch.tensor([[1, 4, 4], [0, 6, 1]], dtype=torch.int32).t()


def _table(dtype: torch.dtype, grad: bool, rows: int = 7, dim: int = 5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    table = torch.randn(rows, dim, generator=generator).to(dtype)
    return table.requires_grad_(grad)


def samples(dtype: torch.dtype) -> Iterator[Sample]:
    ids = _ids()
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    grad_rows = torch.randn(*ids.shape, 5).to(dtype)
    for grad in (False, True):
        yield Sample("lookup", (_table(dtype, grad), ids, 4, False, False), grad)
        yield Sample("lookup", (_table(dtype, grad), ids, -1, True, False), grad)
        gamma = torch.rand(5, dtype=compute).requires_grad_(grad)
        beta = torch.rand(5, dtype=compute).requires_grad_(grad)
        yield Sample("stable_forward", (_table(dtype, grad), ids, gamma, beta, 1e-5, 1, True,
                                        False), grad)
        yield Sample("binary_forward", (_table(dtype, grad), ids, 6, False), grad)
        yield Sample("binary_forward", (_table(dtype, grad), ids, -1, True), grad)
        yield Sample("vocab_lookup", (_table(dtype, grad, rows=10), ids, 7, 0, 5, 3, 5, 7), grad)
    yield Sample("lookup", (_table(dtype, True), ids, 4, False, True), True)
    yield Sample("lookup_out", (_table(dtype, False), ids, torch.empty(ids.numel(), 5,
                                                                         dtype=dtype)), False)
    yield Sample("dense_backward", (grad_rows, ids, 7, 1, True), False)
    yield Sample("sparse_backward", (grad_rows, ids, 4), False)
    for p, rounding in ((2.0, 0), (1.0, 1), (float("inf"), 0), (3.0, 1)):
        yield Sample("renorm_", (_table(dtype, False), ids, 0.5, p, rounding), False)
    rows = torch.tensor([6, 0, 3])
    yield Sample("norm_terms", (_table(dtype, False), rows, 2.0), False)
    yield Sample("scale_rows_", (_table(dtype, False), rows, torch.rand(3, dtype=torch.float64)),
                 False)
    table = _table(dtype, False)
    mean = torch.rand(ids.numel(), dtype=compute)
    rstd = torch.rand(ids.numel(), dtype=compute) + 0.5
    yield Sample("stable_backward", (grad_rows, table, ids, torch.rand(5, dtype=compute), mean,
                                     rstd), False)
    yield Sample("binary_pack", (_table(dtype, False), 2, True), False)
    yield Sample("binary_packed_lookup", (torch.randint(0, 32, (7, 1), dtype=torch.uint8),
                                          torch.rand(7), ids, 5, dtype), False)
    yield Sample("binary_backward", (grad_rows, ids, torch.rand(ids.numel()), 7, 4), False)
    yield Sample("vocab_backward", (grad_rows, ids, 10, 0, 5, 3, 5, 7), False)
