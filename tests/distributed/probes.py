"""A multi-process test backend that exposes the collectives, for their unit tests.

Its layer holds a ``weight`` of shape ``(V, width)`` and applies one
:class:`~embedspec.backends.distributed.ProcessGroupCollectives` operation to the rows
the input selects, so a case shows the operation's forward (the output) and its
backward (the weight's gradient).
"""

from __future__ import annotations

import math

import torch
from embedspec.backends.contract import Availability, Backend, BuildContext, Capabilities
from embedspec.backends.distributed import ProcessGroupCollectives
from embedspec.reference.configs import LayerConfig
from embedspec.reference.partition import partition_sizes
from torch import nn


class _Probe(nn.Module):
    def __init__(self, config: LayerConfig, context: BuildContext) -> None:
        super().__init__()
        self.collectives = ProcessGroupCollectives(context.group, context.rank,
                                                   context.world_size)
        self.sizes = partition_sizes(config.embedding_dim, context.world_size, config.partition)
        self.config = config
        width = self.sizes[context.rank] if config.gather_output else config.embedding_dim
        self.weight = nn.Parameter(torch.zeros(config.num_embeddings, width,
                                               dtype=config.dtype))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        rows = self.weight[input]
        if self.config.gather_output:
            return self.collectives.all_gather_last_dim(rows, self.sizes)
        if self.config.max_norm is None:
            return self.collectives.all_reduce_sum(rows)
        op = "max" if math.isinf(self.config.norm_type) else "sum"
        out = self.collectives.all_reduce_no_grad(rows, op)
        if out.requires_grad:
            raise AssertionError("all_reduce_no_grad returned a tensor with autograd history")
        return out


class CollectivesProbe(Backend):
    """One collective per case, chosen by the ``ShardedConfig``:

    * ``gather_output=True``: ``all_gather_last_dim(weight[input], widths)``, the widths
      of ``partition`` (possibly unequal, possibly zero); ``weight`` is ``(V, width_r)``;
    * ``gather_output=False``, ``max_norm=None``: ``all_reduce_sum(weight[input])``;
    * ``gather_output=False``, ``max_norm`` set: ``all_reduce_no_grad(weight[input], op)``
      with op ``"max"`` for ``norm_type = inf``, else ``"sum"``; raises if the result
      carries autograd history.
    """

    name = "probe_collectives"
    multi_process = True

    def availability(self) -> Availability:
        return Availability.yes()

    def capabilities(self) -> Capabilities:
        return Capabilities()

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        return _Probe(config, context)
