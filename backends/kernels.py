"""Per-rank compute kernels that a compute backend lends to composite backends.

A distributed layer is collectives composed with local computation. The local
computation comes from a compute backend (eager today; native and Triton ones
plug in the same way) through this interface, so kernels are written once.

None of these functions validates its input: the layer validates everything
(S0.2-S0.5) before calling a kernel.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class EmbeddingKernels(Protocol):
    def lookup(self, input: torch.Tensor, weight: torch.Tensor, *, padding_idx: int | None = None,
               scale_grad_by_freq: bool = False, sparse: bool = False) -> torch.Tensor:
        """Gather ``weight[input]`` (shape ``input.shape + (D,)``) with the spec's backward:
        the padding row's gradient is zero and, with ``scale_grad_by_freq``, each
        contribution to row k is divided by k's count in ``input`` (S1.3-S1.5).
        ``padding_idx`` is a row of ``weight`` (already normalised, never negative)."""
        ...

    def norm_terms(self, weight: torch.Tensor, rows: torch.Tensor,
                   norm_type: float) -> torch.Tensor:
        """Per listed row, its partial p-norm over ``weight``'s columns, as float64:
        ``sum |w|^p`` for finite p, ``max |w|`` for p = inf. Summing (or taking the max
        of) the terms of every column shard and applying ``^(1/p)`` gives the full-row
        norm."""
        ...

    def scale_rows_(self, weight: torch.Tensor, rows: torch.Tensor,
                    factors: torch.Tensor) -> None:
        """Multiply each listed row of ``weight`` in place by its factor (cast to the
        weight's dtype first), outside autograd. ``rows`` holds no duplicates."""
        ...
