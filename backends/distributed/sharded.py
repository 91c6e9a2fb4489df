"""The embedding-dimension-sharded layer over process groups (spec section 4).

Same semantics and parameter layout as
:class:`embedspec.reference.ShardedEmbedding` at the same rank. Options and column
shards are the eager backend's (:mod:`embedspec.backends.eager.column_shards`). A
forward is the compute backend's kernels composed with collectives:

1. validate the input: locally when the layer has no replicas (every column shard of
   a model-parallel world receives the same input, so every rank reaches the same
   verdict before any collective, S0.3); with data-parallel replicas, whose inputs
   differ, through the replicas' agreement (:mod:`.grid`);
2. with ``max_norm``: ``kernels.norm_terms`` of the referenced rows on this shard,
   reduced across the shards (``all_reduce_no_grad``: sum, or max for p = inf), full-row
   norms rounded to the weight's dtype and their factors (the eager kernels'
   arithmetic), and ``kernels.scale_rows_`` on the stored shard for the rows over the limit
   (S4.4); in a grid only the owners (replica 0) renormalise, over the union of all
   replicas' rows;
3. in a grid, the owner's shard broadcast to the replicas;
4. ``kernels.lookup`` of this shard (padding row, ``scale_grad_by_freq``);
5. ``all_gather_last_dim`` for a gathered output, else the local block.
"""

from __future__ import annotations

import torch
from embedspec.backends import support
from embedspec.backends.distributed.grid import ReplicaGroup
from embedspec.backends.eager.column_shards import ShardedOptions, column_range, column_sizes
from embedspec.backends.eager.embedding import OptionAttributes
from embedspec.backends.eager.kernels import (
    full_row_norms,
    norm_reduce_op,
    renorm_factors,
    unique_rows,
)
from embedspec.backends.kernels import EmbeddingKernels
from embedspec.reference import Collectives
from embedspec.reference.configs import ShardedConfig
from torch import nn


class DistributedShardedEmbedding(OptionAttributes, nn.Module):
    """One column shard (``weight``: ``(V, end - start)``) of a sharded embedding, as rank
    ``rank`` of ``world_size``, optionally one of ``replicas.dp_size`` data-parallel
    replicas. A fresh layer draws the full ``(V, D)`` table by ``config.init`` from the
    global RNG, zeroes the padding row and keeps its columns (S4.6)."""

    weight: nn.Parameter

    def __init__(self, config: ShardedConfig, *, rank: int, world_size: int,
                 device: torch.device, collectives: Collectives, kernels: EmbeddingKernels,
                 replicas: ReplicaGroup | None = None) -> None:
        super().__init__()
        rank, world_size = support.check_rank(rank, world_size)
        checked = ShardedOptions.validate(**config.as_kwargs(), world_size=world_size)
        self.options = checked.lookup
        self.num_embeddings = checked.num_embeddings
        self.embedding_dim = checked.embedding_dim
        self.partition = checked.partition
        self.gather_output = checked.gather_output
        self.rank = rank
        self.world_size = world_size
        self.collectives = collectives
        self.kernels = kernels
        self.replicas = replicas
        self.sizes = column_sizes(self.embedding_dim, world_size)
        self.column_start, self.column_end = column_range(self.embedding_dim, rank, world_size)
        self.weight = nn.Parameter(checked.initial_block(rank, world_size, device))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        replicas = self.replicas
        renorm = self.max_norm is not None
        if replicas is None:
            support.check_ids(input, self.num_embeddings)
            rows = unique_rows(input) if renorm else None
        else:
            rows = replicas.agree(input, self.num_embeddings, union=renorm)
        if renorm and (replicas is None or replicas.is_owner) and rows.numel() > 0:
            self._renorm_(rows.to(self.weight.device))
        weight = self.weight if replicas is None else replicas.broadcast(self.weight)
        local = self.kernels.lookup(input.to(self.weight.device), weight,
                                    padding_idx=self.padding_idx,
                                    scale_grad_by_freq=self.scale_grad_by_freq)
        if self.gather_output and self.world_size > 1:
            return self.collectives.all_gather_last_dim(local, list(self.sizes))
        return local

    def _renorm_(self, rows: torch.Tensor) -> None:
        """Scale, in the stored shard, the listed rows whose full-row norm exceeds
        ``max_norm`` by ``max_norm / (norm + 1e-7)`` (float64 factor, S1.2/S4.4)."""
        p = self.norm_type
        terms = self.kernels.norm_terms(self.weight, rows, p)
        if self.world_size > 1:
            terms = self.collectives.all_reduce_no_grad(terms, norm_reduce_op(p))
        exceeds, factors = renorm_factors(full_row_norms(terms, p, self.weight.dtype),
                                          self.max_norm)
        self.kernels.scale_rows_(self.weight, rows[exceeds], factors)

    def extra_repr(self) -> str:
        grid = "" if self.replicas is None else (
            f", dp_rank={self.replicas.dp_rank}, dp_size={self.replicas.dp_size}")
        return (f"{self.num_embeddings}, {self.embedding_dim}, rank={self.rank}, "
                f"world_size={self.world_size}, columns=[{self.column_start}, "
                f"{self.column_end}), partition={self.partition!r}, "
                f"gather_output={self.gather_output}{grid}")
