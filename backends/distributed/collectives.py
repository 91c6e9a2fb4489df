"""The :class:`~embedspec.reference.Collectives` of a real process group.

Each operation is a ``torch.distributed`` collective over ``group`` with the autograd
convention stated in :mod:`embedspec.reference.collectives`:

* ``all_reduce_sum``: ``all_reduce(SUM)`` forward; backward passes this rank's output
  gradient through unchanged (identity backward).
* ``all_gather_last_dim``: ``all_gather`` of the rank blocks (blocks of unequal width
  are padded to the widest, since gloo gathers equal shapes only, and trimmed
  after), concatenated in rank order along the last dim; backward hands this rank its
  own column block of the output gradient (slice backward, no communication).
* ``all_reduce_no_grad``: outside autograd, every rank's tensor gathered and reduced
  in rank order (sum) or by ``torch.maximum`` (max), so every rank gets bitwise the
  value the reference's rank-order reduction computes, whatever the algorithm of the
  communication library.

Every rank of ``group`` must call the same operations in the same order with tensors
of the same shape (``all_gather_last_dim``: the same leading shape), as for any
collective.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.distributed as dist


class ProcessGroupCollectives:
    """Collectives over the ``torch.distributed`` process group ``group``.

    ``rank``/``world_size`` are this process's rank in ``group`` and the group's size;
    ``ValueError`` if they disagree with the group.
    """

    def __init__(self, group: Any, rank: int, world_size: int) -> None:
        if not dist.is_initialized():
            raise ValueError("the default torch.distributed process group is not initialised; "
                             "call torch.distributed.init_process_group first")
        actual = (dist.get_rank(group), dist.get_world_size(group))
        if actual != (rank, world_size):
            raise ValueError(f"group: this process is rank {actual[0]} of {actual[1]} in the "
                             f"given process group, but the layer is rank {rank} of "
                             f"{world_size}")
        self.group = group
        self.rank = rank
        self.world_size = world_size

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return _AllReduceSum.apply(tensor, self.group)

    def all_gather_last_dim(self, tensor: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        sizes = [int(s) for s in sizes]
        if len(sizes) != self.world_size or sizes[self.rank] != tensor.shape[-1]:
            raise ValueError(f"sizes must list the last-dim width of every rank's block "
                             f"({self.world_size} entries, entry {self.rank} = "
                             f"{tensor.shape[-1]}), got {sizes}")
        return _AllGatherLastDim.apply(tensor, self.group, tuple(sizes), self.rank)

    def all_reduce_no_grad(self, tensor: torch.Tensor, op: Literal["sum", "max"]) -> torch.Tensor:
        if op not in ("sum", "max"):
            raise ValueError(f"op must be 'sum' or 'max', got {op!r}")
        with torch.no_grad():
            parts = _gather(tensor.detach(), self.group, self.world_size)
            total = parts[0]
            for part in parts[1:]:
                total = torch.maximum(total, part) if op == "max" else total + part
            return total

    def __repr__(self) -> str:
        return f"ProcessGroupCollectives(rank={self.rank}, world_size={self.world_size})"


def _gather(tensor: torch.Tensor, group: Any, world_size: int) -> list[torch.Tensor]:
    """Every rank's ``tensor`` (equal shapes), in rank order."""
    tensor = tensor.contiguous()
    parts = [torch.empty_like(tensor) for _ in range(world_size)]
    dist.all_gather(parts, tensor, group=group)
    return parts


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group: Any) -> torch.Tensor:
        total = tensor.detach().contiguous().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
        return total

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return grad_output, None


class _AllGatherLastDim(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group: Any, sizes: tuple[int, ...],
                rank: int) -> torch.Tensor:
        ctx.start = sum(sizes[:rank])
        ctx.width = sizes[rank]
        lead = tensor.shape[:-1]
        rows = tensor.detach().reshape(math.prod(lead), tensor.shape[-1])
        widest = max(sizes)
        block = rows.new_zeros(rows.shape[0], widest)
        block[:, :rows.shape[1]] = rows
        parts = _gather(block, group, len(sizes))
        gathered = torch.cat([part[:, :width] for part, width in zip(parts, sizes, strict=True)],
                             dim=1)
        return gathered.reshape(*lead, sum(sizes))

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        own = grad_output[..., ctx.start:ctx.start + ctx.width].contiguous()
        return own, None, None, None
