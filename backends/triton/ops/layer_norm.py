"""The layer-norm operator of the stable family, with its backward (S2)."""

from typing import Any

import torch

from ..kernels import layer_norm as kernels
from .registration import define


@define("layer_norm")
def layer_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
               eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(y, mean, rstd)`` of contiguous ``x`` ``(N, D)``; only ``y`` is differentiable."""
    return kernels.layer_norm_forward(x, gamma, beta, eps)


@define("layer_norm_backward")
def layer_norm_backward(dy: torch.Tensor, x: torch.Tensor, gamma: torch.Tensor,
                        mean: torch.Tensor, rstd: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(dx, dgamma, dbeta)``."""
    return kernels.layer_norm_backward(dy, x, gamma, mean, rstd)


def _setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
    x, gamma, _, _ = inputs
    _, mean, rstd = output
    ctx.mark_non_differentiable(mean, rstd)
    ctx.save_for_backward(x, gamma, mean, rstd)


def _backward(ctx: Any, dy: torch.Tensor, _mean: torch.Tensor, _rstd: torch.Tensor) -> tuple:
    x, gamma, mean, rstd = ctx.saved_tensors
    dx, dgamma, dbeta = layer_norm_backward(dy.contiguous(), x, gamma, mean, rstd)
    return dx, dgamma, dbeta, None


layer_norm.register_autograd(_backward, setup_context=_setup_context)
