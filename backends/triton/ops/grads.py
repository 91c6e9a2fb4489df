"""The dense weight-gradient operators: atomic, and deterministic (or a variant of it)."""

from collections.abc import Callable
from typing import Optional

import torch

from ..kernels.backward_atomic import dense_grad_atomic
from ..kernels.backward_deterministic import dense_grad_deterministic
from .registration import NAMESPACE, define

DenseGrad = Callable[..., torch.Tensor]


def define_dense_grad(name: str, launcher: DenseGrad, namespace: str = NAMESPACE) -> DenseGrad:
    """Register ``launcher(grad, ids, row_scale, num_rows, padding_idx, scale_grad_by_freq)``
    as the operator ``namespace::name``."""

    @define(name, namespace=namespace)
    def dense_grad(grad: torch.Tensor, ids: torch.Tensor, row_scale: Optional[torch.Tensor],  # noqa: UP045
                   num_rows: int, padding_idx: int, scale_grad_by_freq: bool) -> torch.Tensor:
        return launcher(grad, ids, row_scale, num_rows, padding_idx, scale_grad_by_freq)

    return dense_grad


atomic_grad = define_dense_grad("dense_grad_atomic", dense_grad_atomic)
deterministic_grad = define_dense_grad("dense_grad_deterministic", dense_grad_deterministic)
