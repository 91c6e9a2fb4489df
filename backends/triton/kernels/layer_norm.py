"""Layer norm over the last dimension, forward and backward (the stable family, S2).

Rows are stored in the layer's dtype and normalised in the norm's compute dtype
(float32, or float64 for float64 layers): ``y = (x - mean) * rstd * gamma + beta`` with
``rstd = 1 / sqrt(var + eps)`` (biased variance), rounded once to the layer's dtype. A
program holds whole rows (the tile spans the padded row), so mean and variance are
exact two-pass reductions in the compute dtype.

Backward: ``dx = rstd * (g - mean(g) - xhat * mean(g * xhat))`` with ``g = dy * gamma``;
``dgamma = sum(dy * xhat)`` and ``dbeta = sum(dy)`` over rows, summed per program and
then across programs in a fixed order (deterministic).
"""

import torch
import triton
import triton.language as tl

from .host import accumulate_dtype, launch
from .rounding import round_to, sqrt
from .tiles import row_block, whole_row_block


@triton.jit
def _normalised(x_ptr, mean_ptr, rstd_ptr, params_ptr, rows, n, dim, ACC: tl.constexpr,
                BLOCK_D: tl.constexpr, STORE_STATS: tl.constexpr):
    cols = tl.arange(0, BLOCK_D)
    in_n = rows < n
    mask = in_n[:, None] & (cols < dim)[None, :]
    x = tl.load(x_ptr + rows[:, None] * dim + cols[None, :], mask=mask, other=0).to(ACC)
    mean = tl.sum(x, axis=1) / dim
    centred = tl.where(mask, x - mean[:, None], 0)
    var = tl.sum(centred * centred, axis=1) / dim
    rstd = 1 / sqrt(var + tl.load(params_ptr))
    if STORE_STATS:
        tl.store(mean_ptr + rows, mean, mask=in_n)
        tl.store(rstd_ptr + rows, rstd, mask=in_n)
    return centred * rstd[:, None], mask


@triton.jit
def layer_norm_forward_kernel(x_ptr, gamma_ptr, beta_ptr, params_ptr, out_ptr, mean_ptr,
                              rstd_ptr, n, dim, ACC: tl.constexpr, BLOCK_N: tl.constexpr,
                              BLOCK_D: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.arange(0, BLOCK_D)
    xhat, mask = _normalised(x_ptr, mean_ptr, rstd_ptr, params_ptr, rows, n, dim, ACC,
                             BLOCK_D, True)
    gamma = tl.load(gamma_ptr + cols, mask=cols < dim, other=0).to(ACC)
    beta = tl.load(beta_ptr + cols, mask=cols < dim, other=0).to(ACC)
    y = xhat * gamma[None, :] + beta[None, :]
    tl.store(out_ptr + rows[:, None] * dim + cols[None, :],
             round_to(y, out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def layer_norm_backward_kernel(dy_ptr, x_ptr, gamma_ptr, mean_ptr, rstd_ptr, dx_ptr,
                               dgamma_ptr, dbeta_ptr, n, dim, ACC: tl.constexpr,
                               BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    block = tl.program_id(0).to(tl.int64)
    rows = block * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.arange(0, BLOCK_D)
    in_n = rows < n
    mask = in_n[:, None] & (cols < dim)[None, :]
    offsets = rows[:, None] * dim + cols[None, :]
    x = tl.load(x_ptr + offsets, mask=mask, other=0).to(ACC)
    mean = tl.load(mean_ptr + rows, mask=in_n, other=0)
    rstd = tl.load(rstd_ptr + rows, mask=in_n, other=0)
    xhat = tl.where(mask, (x - mean[:, None]) * rstd[:, None], 0)
    dy = tl.load(dy_ptr + offsets, mask=mask, other=0).to(ACC)
    gamma = tl.load(gamma_ptr + cols, mask=cols < dim, other=0).to(ACC)
    g = dy * gamma[None, :]
    mean_g = tl.sum(g, axis=1) / dim
    mean_gx = tl.sum(g * xhat, axis=1) / dim
    dx = rstd[:, None] * (g - mean_g[:, None] - xhat * mean_gx[:, None])
    tl.store(dx_ptr + offsets, round_to(dx, dx_ptr.dtype.element_ty), mask=mask)
    in_d = cols < dim
    tl.store(dgamma_ptr + block * dim + cols, tl.sum(dy * xhat, axis=0), mask=in_d)
    tl.store(dbeta_ptr + block * dim + cols, tl.sum(dy, axis=0), mask=in_d)


def _blocks(n: int, dim: int) -> tuple[int, int]:
    block_d = whole_row_block(dim)
    return row_block(n, block_d), block_d


def layer_norm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                       eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(y, mean, rstd)`` for contiguous ``x`` ``(N, D)``; ``y`` in ``x``'s dtype, the
    statistics ``(N,)`` in ``gamma``'s (the compute) dtype."""
    n, dim = x.shape
    out = torch.empty_like(x)
    mean = torch.zeros(n, dtype=gamma.dtype, device=x.device)
    rstd = torch.zeros(n, dtype=gamma.dtype, device=x.device)
    if dim:
        block_n, block_d = _blocks(n, dim)
        params = torch.tensor([eps], dtype=gamma.dtype, device=x.device)
        launch(layer_norm_forward_kernel, (triton.cdiv(n, block_n),), x, gamma, beta, params,
               out, mean, rstd, n, dim, ACC=accumulate_dtype(gamma.dtype), BLOCK_N=block_n,
               BLOCK_D=block_d)
    return out, mean, rstd


def layer_norm_backward(dy: torch.Tensor, x: torch.Tensor, gamma: torch.Tensor,
                        mean: torch.Tensor, rstd: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(dx, dgamma, dbeta)`` for contiguous ``dy`` and ``x`` ``(N, D)``."""
    n, dim = x.shape
    dx = torch.zeros_like(x)
    block_n, block_d = _blocks(n, dim)
    programs = triton.cdiv(n, block_n)
    partial_gamma = torch.zeros((programs, dim), dtype=gamma.dtype, device=x.device)
    partial_beta = torch.zeros((programs, dim), dtype=gamma.dtype, device=x.device)
    if dim:
        launch(layer_norm_backward_kernel, (programs,), dy, x, gamma, mean, rstd, dx,
               partial_gamma, partial_beta, n, dim, ACC=accumulate_dtype(gamma.dtype),
               BLOCK_N=block_n, BLOCK_D=block_d)
    return dx, partial_gamma.sum(0), partial_beta.sum(0)
