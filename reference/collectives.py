"""The collectives a multi-rank layer needs, stated once.

A multi-rank reference layer (vocab-parallel, sharded) computes a per-rank
*partial* and combines partials with one of these operations. The reference
simulates a whole world in one process by calling the combination functions of
its family module on the partials of every rank; a distributed backend passes
an object implementing :class:`Collectives` over a real process group.

Autograd conventions (Megatron/fairseq2):

* ``all_reduce_sum``: forward sums the tensor over ranks; backward passes this
  rank's output gradient through unchanged.
* ``all_gather_last_dim``: forward concatenates every rank's block along the last
  dim, in rank order; backward hands this rank its own column block of the output
  gradient.
* ``all_reduce_no_grad``: a sum or max over ranks outside autograd (norms).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import torch


@runtime_checkable
class Collectives(Protocol):
    rank: int
    world_size: int

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor: ...

    def all_gather_last_dim(self, tensor: torch.Tensor, sizes: list[int]) -> torch.Tensor: ...

    def all_reduce_no_grad(self, tensor: torch.Tensor, op: Literal["sum", "max"]) -> torch.Tensor:
        ...


class LocalCollectives:
    """The collectives of a world of one rank: every operation is the identity."""

    rank = 0
    world_size = 1

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def all_gather_last_dim(self, tensor: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        if sizes != [tensor.shape[-1]]:
            raise ValueError(f"sizes must be [{tensor.shape[-1]}] in a world of one, got {sizes}")
        return tensor

    def all_reduce_no_grad(self, tensor: torch.Tensor, op: Literal["sum", "max"]) -> torch.Tensor:
        if op not in ("sum", "max"):
            raise ValueError(f"op must be 'sum' or 'max', got {op!r}")
        return tensor
