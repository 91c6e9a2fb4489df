"""Data-parallel replicas of a sharded layer: the DistDL grid (spec S4.7).

A grid is ``dp_size`` replicas of a model-parallel world; the replicas of one column
shard form a data-parallel process group, in which replica ``dp_rank 0`` owns the
weight. Per forward:

1. :meth:`ReplicaGroup.agree` (one all-reduce over the group: one element, or with
   ``max_norm`` a row-membership vector of ``num_embeddings + 1`` entries): every replica
   learns whether any replica's input is invalid, so all of them raise before any
   other collective instead of some waiting forever; with ``max_norm`` the same
   all-reduce also returns the union of the rows every replica references, which the
   owner renormalises (the owner's rows must be renormalised for every replica's
   lookup, since they all read the owner's weight).
2. :meth:`ReplicaGroup.broadcast` (autograd function): the owner's weight is
   broadcast to the group and each replica looks up its own input in it. Non-owners
   copy the broadcast into their own ``weight`` (which thus mirrors the owner's).
   The backward gathers every replica's gradient onto the owner, which sums them in
   replica order (as the reference's ``owner_gradient`` does); non-owner
   weights get no gradient (``None``), as in the reference's ``grid_forward``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from embedspec.backends.support import check_ids

#: Codes of the agreement: the worst one over the replicas wins.
_VALID, _BAD_IDS, _BAD_TYPE = 0, 1, 2


class ReplicaGroup:
    """This process's replica coordinates and the data-parallel group of its shard."""

    def __init__(self, group: Any, dp_rank: int, dp_size: int) -> None:
        actual = (dist.get_rank(group), dist.get_world_size(group))
        if actual != (dp_rank, dp_size):
            raise ValueError(f"dp_group: this process is rank {actual[0]} of {actual[1]} in the "
                             f"given data-parallel group, but the layer is dp_rank {dp_rank} "
                             f"of dp_size {dp_size}")
        self.group = group
        self.dp_rank = dp_rank
        self.dp_size = dp_size
        self.owner = dist.get_global_rank(group, 0)

    @property
    def is_owner(self) -> bool:
        return self.dp_rank == 0

    def agree(self, input: torch.Tensor, num_embeddings: int, *,
              union: bool) -> torch.Tensor | None:
        """Validate ``input`` together with every replica (S0.2-S0.4).

        Raises this replica's own ``TypeError``/``IndexError`` if its input is bad, and
        the same class naming another replica otherwise when any replica's input is bad.
        With ``union``, returns the sorted distinct rows referenced by all replicas'
        inputs (int64, on ``input``'s device); else None.
        """
        error: Exception | None = None
        try:
            check_ids(input, num_embeddings)
        except TypeError as exc:
            error, code = exc, _BAD_TYPE
        except IndexError as exc:
            error, code = exc, _BAD_IDS
        else:
            code = _VALID
        votes = torch.zeros(num_embeddings + 1 if union else 1, dtype=torch.int32,
                            device=input.device if isinstance(input, torch.Tensor) else "cpu")
        votes[-1] = code
        if union and error is None and input.numel() > 0:
            votes[input.reshape(-1).long()] = 1
        dist.all_reduce(votes, op=dist.ReduceOp.MAX, group=self.group)
        if error is not None:
            raise error
        worst = int(votes[-1])
        if worst == _BAD_TYPE:
            raise TypeError("another data-parallel replica's input is not an int32/int64 "
                            "tensor; no replica ran the forward")
        if worst == _BAD_IDS:
            raise IndexError(f"another data-parallel replica's input holds an id outside the "
                             f"valid range [0, {num_embeddings}); no replica ran the forward")
        return torch.nonzero(votes[:-1]).reshape(-1) if union else None

    def broadcast(self, weight: torch.Tensor) -> torch.Tensor:
        """The owner's ``weight`` on every replica (a non-owner also copies it into its own
        ``weight``); backward sums every replica's gradient onto the owner."""
        shared = _BroadcastFromOwner.apply(weight, self)
        if not self.is_owner:
            with torch.no_grad():
                weight.copy_(shared)
        return shared


class _BroadcastFromOwner(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: torch.Tensor, replicas: ReplicaGroup) -> torch.Tensor:
        ctx.replicas = replicas
        shared = weight.detach().contiguous().clone()
        dist.broadcast(shared, src=replicas.owner, group=replicas.group)
        return shared

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        replicas: ReplicaGroup = ctx.replicas
        grad = grad_output.contiguous()
        if not replicas.is_owner:
            dist.gather(grad, None, dst=replicas.owner, group=replicas.group)
            return None, None
        parts = [torch.empty_like(grad) for _ in range(replicas.dp_size)]
        dist.gather(grad, parts, dst=replicas.owner, group=replicas.group)
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total, None
