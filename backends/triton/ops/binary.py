"""The binary family's operators (S5): pack, unpack, and the straight-through lookup."""

from typing import Any, Optional

import torch

from ..kernels import binary_lookup, binary_pack
from .grads import atomic_grad, deterministic_grad
from .registration import define


@define("binary_pack")
def pack_rows(table: torch.Tensor, ids: torch.Tensor, padding_idx: int,
              centre: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: UP045
    """``(qweight, scale)`` packing ``table[ids]``; ``padding_idx < 0``: no padding row."""
    return binary_pack.pack_rows(table, ids, padding_idx, centre)


@define("binary_unpack")
def unpack(qweight: torch.Tensor, scale: torch.Tensor, ids: torch.Tensor, dim: int,
           dtype: torch.dtype) -> torch.Tensor:
    """``(N, dim)`` rows in ``dtype`` of the packed rows ``ids`` selects."""
    return binary_lookup.unpack(qweight, scale, dim, dtype, ids)


@define("binary_lookup")
def lookup(weight: torch.Tensor, ids: torch.Tensor, qweight: torch.Tensor, scale: torch.Tensor,
           padding_idx: int, deterministic: bool) -> torch.Tensor:
    """Rows of the per-position packs ``(qweight, scale)`` (of ``weight[ids]``); the
    gradient into ``weight`` is straight-through: ``scale[i] * grad[i]`` added at
    ``ids[i]``, zero for the padding row."""
    return binary_lookup.unpack(qweight, scale, weight.shape[1], weight.dtype)


def _setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
    weight, ids, _, scale, padding_idx, deterministic = inputs
    ctx.save_for_backward(ids, scale)
    ctx.num_rows = weight.shape[0]
    ctx.options = (padding_idx, deterministic)


def _backward(ctx: Any, grad: torch.Tensor) -> tuple:
    ids, scale = ctx.saved_tensors
    padding_idx, deterministic = ctx.options
    dense = deterministic_grad if deterministic else atomic_grad
    grad_weight = dense(grad.contiguous(), ids, scale, ctx.num_rows, padding_idx, False)
    return grad_weight, None, None, None, None, None


lookup.register_autograd(_backward, setup_context=_setup_context)
