"""The sharded family (spec section 4): fairseq2 ``ShardedEmbedding`` and DistDL
``DistributedEmbedding``, one layer sharded along the embedding dimension.

Rank r of a model-parallel world of P ranks stores the column block
``[start_r, end_r)`` of every row (:mod:`.partition`, S4.1). Every rank receives the
same input. Collective protocol (S4.3-S4.5):

* per-rank partial: ``lookup(input, W_r)``, the rank's column block of the output;
* ``max_norm`` (before the lookup): per-rank float64 norm terms of the referenced rows,
  combined with ``all_reduce_no_grad`` (sum, or max for p = inf) into full-row norms,
  then every shard scales its part of the rows over ``max_norm`` (:mod:`.sharded_norm`);
* gathered output: ``all_gather_last_dim`` of the blocks in rank order; its backward
  hands each rank its own column block of the output gradient (slice backward).
  Local output: the rank's block as is, no collective.

Data parallelism (S4.7, DistDL): a grid of ``dp_size`` replicas of the P-rank world.
Replica 0 owns the weights. In a forward, the owner renormalises (when ``max_norm`` is
set) the rows referenced by the union of all replicas' inputs, each once, with the
cross-shard norm, and then broadcasts its shards; every replica looks up its own
input in the owner's shards. The owner's gradient is the sum over replicas of each
replica's gradient (:func:`owner_gradient`), in replica order. What non-owner replicas
store and which gradient they hold is not specified.
"""

from .partition import PARTITIONS, column_range, partition_sizes
from .sharded_layer import DistributedEmbedding, ShardedEmbedding
from .sharded_world import (
    build_grid,
    build_world,
    grid_forward,
    owner_gradient,
    to_embedding,
    to_full,
    world_forward,
)

__all__ = [
    "PARTITIONS",
    "DistributedEmbedding",
    "ShardedEmbedding",
    "build_grid",
    "build_world",
    "column_range",
    "grid_forward",
    "owner_gradient",
    "partition_sizes",
    "to_embedding",
    "to_full",
    "world_forward",
]
