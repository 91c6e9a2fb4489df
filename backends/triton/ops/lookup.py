"""The lookup operator: the forward gather, with the spec's backward (S1.3-S1.5).

``lookup(ids, weight, padding_idx, scale_grad_by_freq, sparse, deterministic)`` gathers
``weight[ids]`` ``(N, D)`` for 1-D contiguous ``ids``; ``padding_idx < 0`` means none.
Its gradient is the sparse one with ``sparse``, else the dense one, deterministic
(sorted segments) or atomic as ``deterministic`` says.
"""

from collections.abc import Callable
from typing import Any

import torch

from ..kernels.backward_sparse import sparse_grad
from ..kernels.gather import gather_rows
from .grads import DenseGrad, atomic_grad, deterministic_grad
from .registration import NAMESPACE, define


@define("gather")
def gather(ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``table[ids]`` for 1-D contiguous ``ids``, without autograd."""
    return gather_rows(ids, table)


def define_lookup(name: str, forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                  deterministic: DenseGrad, namespace: str = NAMESPACE) -> Callable:
    """Register a lookup operator ``namespace::name`` whose forward is ``forward(ids,
    weight)`` and whose deterministic dense gradient is the operator ``deterministic``."""

    @define(name, namespace=namespace)
    def lookup(ids: torch.Tensor, weight: torch.Tensor, padding_idx: int,
               scale_grad_by_freq: bool, sparse: bool, deterministic: bool) -> torch.Tensor:
        return forward(ids, weight)

    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        ids, weight, padding_idx, scale_grad_by_freq, sparse, use_deterministic = inputs
        ctx.save_for_backward(ids)
        ctx.num_rows = weight.shape[0]
        ctx.options = (padding_idx, scale_grad_by_freq, sparse, use_deterministic)

    def backward(ctx: Any, grad: torch.Tensor) -> tuple:
        (ids,) = ctx.saved_tensors
        padding_idx, scale_grad_by_freq, sparse, use_deterministic = ctx.options
        grad = grad.contiguous()
        if sparse:
            grad_weight = sparse_grad(grad, ids, ctx.num_rows, padding_idx, gather=gather)
        else:
            dense = deterministic if use_deterministic else atomic_grad
            grad_weight = dense(grad, ids, None, ctx.num_rows, padding_idx, scale_grad_by_freq)
        return None, grad_weight, None, None, None, None

    lookup.register_autograd(backward, setup_context=setup_context)
    return lookup


lookup = define_lookup("lookup", gather_rows, deterministic_grad)
