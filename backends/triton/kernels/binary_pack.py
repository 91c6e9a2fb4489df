"""Binary packing (S5): latent rows to sign bits, least-significant bit first, and scales.

For each listed row ``r`` of a ``(V, D)`` latent table: bit ``i`` of byte ``j`` is
``w[r, 8j + i] >= 0`` (``w - m >= 0`` with centring, in float64), unused high bits of
the last byte are zero, and the scale is the mean of ``|w|`` (``|w - m|``) over the
``D`` columns, accumulated in float64 and rounded once to float32 (0 when ``D = 0``).
The padding row packs as a zero row: every real bit set, scale 0. A tile is
rows x bytes x 8 bits, so bytes are formed by shifting and summing along the last axis.
"""

import torch
import triton
import triton.language as tl

from .host import launch
from .tiles import byte_block, row_block

BITS_PER_BYTE = 8


@triton.jit
def pack_kernel(ids_ptr, table_ptr, centre_ptr, q_ptr, scale_ptr, n, dim, width, divisor,
                stride_row, stride_col, padding_idx, HAS_PADDING: tl.constexpr,
                CENTRED: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_W: tl.constexpr):
    entries = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    in_r = entries < n
    rows = tl.load(ids_ptr + entries, mask=in_r, other=0).to(tl.int64)
    padding = rows == padding_idx if HAS_PADDING else rows < 0
    bits = tl.arange(0, 8)[None, None, :]
    centre = tl.load(centre_ptr)
    magnitude = tl.zeros([BLOCK_R], dtype=tl.float64)
    for first in range(0, width, BLOCK_W):
        byte_index = first + tl.arange(0, BLOCK_W)
        cols = byte_index[None, :, None] * 8 + bits
        real = cols < dim
        mask = in_r[:, None, None] & real
        x = tl.load(table_ptr + rows[:, None, None] * stride_row + cols * stride_col,
                    mask=mask, other=0)
        x = x.to(tl.float64) - centre if CENTRED else x.to(tl.float64)
        magnitude += tl.sum(tl.sum(tl.where(mask, tl.abs(x), 0), axis=2), axis=1)
        is_set = (x >= 0) | padding[:, None, None]
        byte = tl.sum((is_set & mask).to(tl.int32) << bits, axis=2)
        tl.store(q_ptr + entries[:, None] * width + byte_index[None, :], byte.to(tl.uint8),
                 mask=in_r[:, None] & (byte_index < width)[None, :])
    scale = tl.where(padding, 0.0, magnitude / divisor).to(tl.float32)
    tl.store(scale_ptr + entries, scale, mask=in_r)


def packed_width(dim: int) -> int:
    """Bytes per packed row: ``ceil(dim / 8)``."""
    return triton.cdiv(dim, BITS_PER_BYTE)


def pack_rows(table: torch.Tensor, ids: torch.Tensor, padding_idx: int,
              centre: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(qweight, scale)``: uint8 ``(N, ceil(D/8))`` and float32 ``(N,)`` packing the
    rows ``table[ids]`` for 1-D ``ids``; ``padding_idx < 0`` means no padding row;
    ``centre`` (0-d float64) is subtracted when given."""
    n, dim = ids.shape[0], table.shape[1]
    width = packed_width(dim)
    qweight = torch.zeros((n, width), dtype=torch.uint8, device=table.device)
    scale = torch.zeros(n, dtype=torch.float32, device=table.device)
    centred = centre is not None
    centre = (centre if centred else torch.zeros((), dtype=torch.float64)).reshape(1)
    block_w = byte_block(width)
    block_r = row_block(n, block_w * BITS_PER_BYTE)
    launch(pack_kernel, (triton.cdiv(n, block_r),), ids, table, centre.to(table.device),
           qweight, scale, n, dim, width, max(dim, 1), table.stride(0), table.stride(1),
           max(padding_idx, 0), HAS_PADDING=padding_idx >= 0, CENTRED=centred,
           BLOCK_R=block_r, BLOCK_W=block_w)
    return qweight, scale
