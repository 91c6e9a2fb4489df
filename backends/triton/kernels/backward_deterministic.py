"""Dense weight gradient, bitwise deterministic: sort, segment, one store per row.

The ids are sorted (stably, so equal ids keep their input order); each run of equal ids
is a *segment*. A program owns one segment and one column tile: it adds the segment's
gradient rows in float32 (float64 for float64 gradients) in a fixed order, divides each
by the segment's length for ``scale_grad_by_freq``, and stores the row once, rounded
to the gradient's dtype. No atomics, so every run adds in the same order (S0.6).

The grid has one program per sorted position (every shape stays static, so the op
traces under ``torch.compile``); a program whose position does not start a segment
has nothing to do. Rows no id references, and the padding row, stay zero.
"""

from collections.abc import Callable
from typing import NamedTuple

import torch
import triton
import triton.language as tl

from .host import accumulate_dtype, launch
from .rounding import round_to
from .tiles import column_block, row_block


class Segments(NamedTuple):
    """Sorted ids, the input position of each sorted entry, and for each sorted entry
    the start and end of the run of equal ids it belongs to."""

    sorted_ids: torch.Tensor
    order: torch.Tensor
    starts: torch.Tensor
    ends: torch.Tensor


def segments(ids: torch.Tensor) -> Segments:
    """The :class:`Segments` of 1-D ``ids``."""
    sorted_ids, order = torch.sort(ids.to(torch.int64), stable=True)
    starts = torch.searchsorted(sorted_ids, sorted_ids, side="left")
    ends = torch.searchsorted(sorted_ids, sorted_ids, side="right")
    return Segments(sorted_ids, order, starts, ends)


@triton.jit
def segment_sum_kernel(sorted_ptr, order_ptr, starts_ptr, ends_ptr, grad_ptr, row_scale_ptr,
                       out_ptr, dim, padding_idx, HAS_PADDING: tl.constexpr,
                       HAS_ROW_SCALE: tl.constexpr, SCALE_BY_FREQ: tl.constexpr,
                       ACC: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    head = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1).to(tl.int64) * BLOCK_D + tl.arange(0, BLOCK_D)
    in_d = cols < dim
    row = tl.load(sorted_ptr + head)
    starts_here = tl.load(starts_ptr + head) == head
    end = tl.where(starts_here, tl.load(ends_ptr + head), head)
    length = (end - head).to(ACC)
    total = tl.zeros([BLOCK_D], dtype=ACC)
    for first in range(head, end, BLOCK_N):
        entries = first + tl.arange(0, BLOCK_N)
        in_segment = entries < end
        positions = tl.load(order_ptr + entries, mask=in_segment, other=0)
        mask = in_segment[:, None] & in_d[None, :]
        grads = tl.load(grad_ptr + positions[:, None] * dim + cols[None, :], mask=mask,
                        other=0).to(ACC)
        if HAS_ROW_SCALE:
            scales = tl.load(row_scale_ptr + positions, mask=in_segment, other=0).to(ACC)
            grads = grads * scales[:, None]
        if SCALE_BY_FREQ:
            grads = grads / length
        total += tl.sum(grads, axis=0)
    owner = starts_here
    if HAS_PADDING:
        owner = owner & (row != padding_idx)
    store = in_d & (tl.zeros([BLOCK_D], dtype=tl.int32) + owner.to(tl.int32) != 0)
    tl.store(out_ptr + row * dim + cols, round_to(total, out_ptr.dtype.element_ty),
             mask=store)


#: How many segment programs to launch for some :class:`Segments`: one per sorted entry.
SegmentPrograms = Callable[[Segments], int]


def every_entry(found: Segments) -> int:
    return found.sorted_ids.shape[0]


def dense_grad_deterministic(grad: torch.Tensor, ids: torch.Tensor,
                             row_scale: torch.Tensor | None, num_rows: int, padding_idx: int,
                             scale_grad_by_freq: bool,
                             programs: SegmentPrograms = every_entry) -> torch.Tensor:
    """The ``(num_rows, D)`` weight gradient of contiguous ``grad`` ``(N, D)`` at 1-D
    ``ids``, bitwise reproducible; ``padding_idx < 0`` means no padding row.
    ``programs`` counts the segment programs launched (a deliberately wrong variant
    launches fewer)."""
    n, dim = grad.shape
    out = torch.zeros((num_rows, dim), dtype=grad.dtype, device=grad.device)
    if n == 0 or dim == 0:
        return out
    found = segments(ids)
    block_d = column_block(dim)
    block_n = row_block(n, block_d)
    launch(segment_sum_kernel, (programs(found), triton.cdiv(dim, block_d)), found.sorted_ids,
           found.order, found.starts, found.ends, grad,
           grad if row_scale is None else row_scale, out, dim, max(padding_idx, 0),
           HAS_PADDING=padding_idx >= 0, HAS_ROW_SCALE=row_scale is not None,
           SCALE_BY_FREQ=scale_grad_by_freq, ACC=accumulate_dtype(grad.dtype),
           BLOCK_N=block_n, BLOCK_D=block_d)
    return out
