"""``max_norm`` renormalisation in place of the distinct rows the ids reference (S1.2).

The ids are sorted; the first entry of each run of equal ids (its *head*) owns the row.
A head computes the row's ``norm_type``-norm of the absolute values and, if it is
strictly greater than ``max_norm``, multiplies the row by ``max_norm / (norm + 1e-7)``,
once however often the row is referenced. Duplicates never write.

Rounding, as the eager backend and the reference: the norm accumulates in float32
(float64 for float64 weights; float64 throughout with ``float64_norms``, the column-shard
rule of S4.4) and is rounded to the weight's dtype; the factor is computed in float64
from that norm and rounded to the weight's dtype (through float32, as torch rounds);
each product is rounded to the weight's dtype. p = 1, 2 and inf use sums, a correctly
rounded square root and a max; other p use ``|w|^p`` and ``^(1/p)`` in float64.
"""

import math

import torch
import triton
import triton.language as tl

from ..runtime import interpreting
from .host import launch
from .rounding import round_to, sqrt
from .tiles import column_block, row_block

#: The renorm divides by ``norm + RENORM_EPS`` (S1.2, as PyTorch).
RENORM_EPS = 1e-7
NORM_INF, NORM_L1, NORM_L2, NORM_P = 0, 1, 2, 3

try:
    from triton.language.extra import libdevice
except ImportError:  # pragma: no cover - every supported triton has it
    libdevice = None


@triton.jit
def _power(x, exponent, USE_LIBDEVICE: tl.constexpr):
    """``x ** exponent`` for float64 ``x >= 0`` and ``exponent > 0`` (0 for x = 0)."""
    if USE_LIBDEVICE:
        return libdevice.pow(x, exponent)
    else:
        positive = x > 0
        logs = tl.log2(tl.where(positive, x, 1.0))
        return tl.where(positive, tl.exp2(exponent * logs), 0.0)


@triton.jit
def renorm_kernel(sorted_ptr, table_ptr, params_ptr, n, dim, stride_row, stride_col,
                  NORM: tl.constexpr, ACC: tl.constexpr, USE_LIBDEVICE: tl.constexpr,
                  BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    entries = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    in_r = entries < n
    rows = tl.load(sorted_ptr + entries, mask=in_r, other=0)
    previous = tl.load(sorted_ptr + entries - 1, mask=in_r & (entries > 0), other=-1)
    heads = in_r & (rows != previous)
    max_norm = tl.load(params_ptr)
    p = tl.load(params_ptr + 1)
    eps = tl.load(params_ptr + 3)
    dtype = table_ptr.dtype.element_ty
    base = table_ptr + rows[:, None] * stride_row
    total = tl.zeros([BLOCK_R], dtype=ACC)
    for first in range(0, dim, BLOCK_D):
        cols = first + tl.arange(0, BLOCK_D)
        mask = heads[:, None] & (cols < dim)[None, :]
        values = tl.abs(tl.load(base + cols[None, :] * stride_col, mask=mask, other=0).to(ACC))
        if NORM == 0:
            total = tl.maximum(total, tl.max(values, axis=1))
        elif NORM == 1:
            total += tl.sum(values, axis=1)
        elif NORM == 2:
            total += tl.sum(values * values, axis=1)
        else:
            total += tl.sum(_power(values, p, USE_LIBDEVICE), axis=1)
    if NORM == 2:
        total = sqrt(total)
    elif NORM == 3:
        total = _power(total, tl.load(params_ptr + 2), USE_LIBDEVICE)
    norms = round_to(total, dtype).to(tl.float64)
    exceeds = heads & (norms > max_norm)
    factors = round_to(tl.where(exceeds, max_norm / (norms + eps), 1.0), dtype).to(ACC)
    for first in range(0, dim, BLOCK_D):
        cols = first + tl.arange(0, BLOCK_D)
        mask = exceeds[:, None] & (cols < dim)[None, :]
        pointers = base + cols[None, :] * stride_col
        values = tl.load(pointers, mask=mask, other=0).to(ACC)
        tl.store(pointers, round_to(values * factors[:, None], dtype), mask=mask)


def norm_kind(norm_type: float) -> int:
    if math.isinf(norm_type):
        return NORM_INF
    return {1.0: NORM_L1, 2.0: NORM_L2}.get(norm_type, NORM_P)


def renorm_(weight: torch.Tensor, ids: torch.Tensor, max_norm: float, norm_type: float,
            float64_norms: bool = False) -> None:
    """Renormalise in place the rows of ``weight`` that 1-D ``ids`` reference (S1.2)."""
    if ids.shape[0] == 0:
        return
    sorted_ids = torch.sort(ids.to(torch.int64)).values
    params = torch.tensor([max_norm, norm_type, 1.0 / norm_type, RENORM_EPS],
                          dtype=torch.float64, device=weight.device)
    kind = norm_kind(norm_type)
    wide = float64_norms or kind == NORM_P or weight.dtype == torch.float64
    dim = weight.shape[1]
    block_d = column_block(dim)
    block_r = row_block(ids.shape[0], block_d)
    launch(renorm_kernel, (triton.cdiv(ids.shape[0], block_r),), sorted_ids, weight, params,
           ids.shape[0], dim, weight.stride(0), weight.stride(1), NORM=kind,
           ACC=tl.float64 if wide else tl.float32, USE_LIBDEVICE=not interpreting(),
           BLOCK_R=block_r, BLOCK_D=block_d)
