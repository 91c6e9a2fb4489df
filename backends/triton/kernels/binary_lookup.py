"""The packed forward of binary embeddings (S5): packed rows to ``(+1 if bit else -1) *
scale`` in float32 (exact), rounded to the layer's dtype, in tiles of rows x bytes x 8
bits. Either gathers rows of a packed table by id, or unpacks packed rows in order."""

import torch
import triton
import triton.language as tl

from .binary_pack import BITS_PER_BYTE
from .host import launch
from .rounding import round_to
from .tiles import byte_block, row_block


@triton.jit
def unpack_kernel(ids_ptr, q_ptr, scale_ptr, out_ptr, n, dim, width, GATHER: tl.constexpr,
                  BLOCK_N: tl.constexpr, BLOCK_W: tl.constexpr):
    positions = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    in_n = positions < n
    rows = tl.load(ids_ptr + positions, mask=in_n, other=0).to(tl.int64) if GATHER else positions
    scale = tl.load(scale_ptr + rows, mask=in_n, other=0)
    bits = tl.arange(0, 8)[None, None, :]
    for first in range(0, width, BLOCK_W):
        byte_index = first + tl.arange(0, BLOCK_W)
        in_w = in_n[:, None] & (byte_index < width)[None, :]
        byte = tl.load(q_ptr + rows[:, None] * width + byte_index[None, :], mask=in_w,
                       other=0).to(tl.int32)
        is_set = ((byte[:, :, None] >> bits) & 1) != 0
        values = tl.where(is_set, 1.0, -1.0) * scale[:, None, None]
        cols = byte_index[None, :, None] * 8 + bits
        tl.store(out_ptr + positions[:, None, None] * dim + cols,
                 round_to(values, out_ptr.dtype.element_ty),
                 mask=in_n[:, None, None] & (cols < dim))


def unpack(qweight: torch.Tensor, scale: torch.Tensor, dim: int, dtype: torch.dtype,
           ids: torch.Tensor | None = None) -> torch.Tensor:
    """``(N, dim)`` rows in ``dtype`` of packed rows: ``qweight[ids]``/``scale[ids]`` for
    1-D ``ids``, or every packed row in order when ``ids`` is None."""
    n = qweight.shape[0] if ids is None else ids.shape[0]
    width = qweight.shape[1]
    out = torch.empty((n, dim), dtype=dtype, device=qweight.device)
    block_w = byte_block(width)
    block_n = row_block(n, block_w * BITS_PER_BYTE)
    launch(unpack_kernel, (triton.cdiv(n, block_n),), qweight if ids is None else ids, qweight,
           scale, out, n, dim, width, GATHER=ids is not None, BLOCK_N=block_n,
           BLOCK_W=block_w)
    return out
