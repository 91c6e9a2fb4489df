"""The ``max_norm`` renormalisation operator (mutates ``weight``; S1.2, S4.4)."""

import torch

from ..kernels import renorm as kernel
from .registration import define


@define("renorm_", mutates_args=("weight",))
def renorm_(ids: torch.Tensor, weight: torch.Tensor, max_norm: float, norm_type: float,
            float64_norms: bool) -> None:
    """Renormalise in place the rows of ``weight`` that 1-D ``ids`` reference."""
    kernel.renorm_(weight, ids, max_norm, norm_type, float64_norms)
