"""Dense weight gradient with float32 atomics (float64 for float64 gradients): fast, and
not deterministic on GPUs (the order of the atomic additions varies between runs).

``grad_weight[k] = sum over positions i with ids[i] == k != padding_idx of
grad[i] * row_scale[i] / (count_k if scale_grad_by_freq)`` (S1.3, S1.5; ``row_scale``
is the binary family's straight-through scale, S5). Every position adds its tile into a
zeroed float32 table; the table is then rounded once to the gradient's dtype. Counts
for ``scale_grad_by_freq`` are integer atomics, exact in any order.
"""

import torch
import triton
import triton.language as tl

from .host import accumulate_dtype, launch
from .tiles import column_block, row_block


@triton.jit
def count_kernel(ids_ptr, counts_ptr, n, BLOCK_N: tl.constexpr):
    positions = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    in_n = positions < n
    rows = tl.load(ids_ptr + positions, mask=in_n, other=0).to(tl.int64)
    tl.atomic_add(counts_ptr + rows, tl.full([BLOCK_N], 1, tl.int32), mask=in_n)


@triton.jit
def scatter_add_kernel(ids_ptr, grad_ptr, row_scale_ptr, counts_ptr, acc_ptr, n, dim,
                       padding_idx, HAS_PADDING: tl.constexpr, HAS_ROW_SCALE: tl.constexpr,
                       SCALE_BY_FREQ: tl.constexpr, ACC: tl.constexpr,
                       BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    positions = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.program_id(1).to(tl.int64) * BLOCK_D + tl.arange(0, BLOCK_D)
    keep = positions < n
    rows = tl.load(ids_ptr + positions, mask=keep, other=0).to(tl.int64)
    if HAS_PADDING:
        keep = keep & (rows != padding_idx)
    mask = keep[:, None] & (cols < dim)[None, :]
    grads = tl.load(grad_ptr + positions[:, None] * dim + cols[None, :], mask=mask,
                    other=0).to(ACC)
    if HAS_ROW_SCALE:
        grads = grads * tl.load(row_scale_ptr + positions, mask=keep, other=0).to(ACC)[:, None]
    if SCALE_BY_FREQ:
        counts = tl.load(counts_ptr + rows, mask=keep, other=1).to(ACC)
        grads = grads / counts[:, None]
    tl.atomic_add(acc_ptr + rows[:, None] * dim + cols[None, :], grads, mask=mask)


def id_counts(ids: torch.Tensor, num_rows: int) -> torch.Tensor:
    """int32 ``(num_rows,)``: how often each row occurs in 1-D ``ids``."""
    counts = torch.zeros(num_rows, dtype=torch.int32, device=ids.device)
    block_n = row_block(ids.shape[0], 1)
    launch(count_kernel, (triton.cdiv(ids.shape[0], block_n),), ids, counts, ids.shape[0],
           BLOCK_N=block_n)
    return counts


def dense_grad_atomic(grad: torch.Tensor, ids: torch.Tensor, row_scale: torch.Tensor | None,
                      num_rows: int, padding_idx: int, scale_grad_by_freq: bool) -> torch.Tensor:
    """The ``(num_rows, D)`` weight gradient of contiguous ``grad`` ``(N, D)`` at 1-D
    ``ids``; ``padding_idx < 0`` means no padding row."""
    n, dim = grad.shape
    accumulate = torch.float64 if grad.dtype == torch.float64 else torch.float32
    acc = torch.zeros((num_rows, dim), dtype=accumulate, device=grad.device)
    counts = id_counts(ids, num_rows) if scale_grad_by_freq else acc
    block_d = column_block(dim)
    block_n = row_block(n, block_d)
    launch(scatter_add_kernel, (triton.cdiv(n, block_n), triton.cdiv(dim, block_d)), ids, grad,
           grad if row_scale is None else row_scale, counts, acc, n, dim, max(padding_idx, 0),
           HAS_PADDING=padding_idx >= 0, HAS_ROW_SCALE=row_scale is not None,
           SCALE_BY_FREQ=scale_grad_by_freq, ACC=accumulate_dtype(grad.dtype),
           BLOCK_N=block_n, BLOCK_D=block_d)
    return acc.to(grad.dtype)
