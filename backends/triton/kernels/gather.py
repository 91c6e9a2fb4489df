"""Forward gather: ``out[i, :] = table[ids[i], :]``, in 2-D tiles of positions x columns.

Any number of columns (the last column tile is masked), int32 or int64 ids (widened to
int64 before any offset is formed, so ``id * row_stride`` cannot overflow), any row and
column stride of the table. A gather moves stored bits: no arithmetic, exact in every
dtype. The same kernel gathers gradient rows for the sparse backward.
"""

from collections.abc import Callable

import torch
import triton
import triton.language as tl

from .host import launch
from .tiles import column_block, row_block


@triton.jit
def gather_kernel(ids_ptr, table_ptr, out_ptr, n, dim, stride_row, stride_col,
                  BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    positions = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.program_id(1).to(tl.int64) * BLOCK_D + tl.arange(0, BLOCK_D)
    in_n = positions < n
    mask = in_n[:, None] & (cols < dim)[None, :]
    rows = tl.load(ids_ptr + positions, mask=in_n, other=0).to(tl.int64)
    values = tl.load(table_ptr + rows[:, None] * stride_row + cols[None, :] * stride_col,
                     mask=mask)
    tl.store(out_ptr + positions[:, None] * dim + cols[None, :], values, mask=mask)


#: How many column tiles cover ``dim`` columns in tiles of ``block``: all of them.
ColumnTiles = Callable[[int, int], int]


def gather_into(out: torch.Tensor, ids: torch.Tensor, table: torch.Tensor,
                column_tiles: ColumnTiles = triton.cdiv) -> torch.Tensor:
    """Fill ``out`` ``(N, D)`` (contiguous) with ``table[ids]`` for 1-D contiguous ``ids``
    and a ``(V, D)`` ``table``; returns ``out``. ``column_tiles`` counts the column tiles
    launched (every one; a deliberately wrong variant passes another count)."""
    n, dim = out.shape
    block_d = column_block(dim)
    block_n = row_block(n, block_d)
    grid = (triton.cdiv(n, block_n), column_tiles(dim, block_d))
    launch(gather_kernel, grid, ids, table, out, n, dim, table.stride(0), table.stride(1),
           BLOCK_N=block_n, BLOCK_D=block_d)
    return out


def gather_rows(ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``table[ids]`` ``(N, D)`` for 1-D contiguous ``ids``: a fresh tensor."""
    out = table.new_empty((ids.shape[0], table.shape[1]))
    return gather_into(out, ids, table)
