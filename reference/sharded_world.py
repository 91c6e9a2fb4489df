"""Whole sharded worlds simulated in one process (spec S4.3-S4.7).

Model-parallel worlds (:func:`build_world`, :func:`world_forward`), conversions between
a world and the full table (:func:`to_full`, :func:`to_embedding`; the other way is
:meth:`ShardedEmbedding.from_full` / :meth:`ShardedEmbedding.from_embedding`), and
data-parallel grids (:func:`build_grid`, :func:`grid_forward`, :func:`owner_gradient`).
The conformance suite builds per-rank states and expected outputs and gradients with
these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import torch

from .configs import ShardedConfig
from .embedding import Embedding
from .init import init_weight_
from .sharded_layer import ShardedEmbedding, checked_options
from .sharded_norm import (
    combine_norm_terms,
    full_norms,
    norm_terms,
    referenced_rows,
    renorm_shard_,
)
from .validation import check_indices, check_int

__all__ = [
    "build_grid",
    "build_world",
    "grid_forward",
    "owner_gradient",
    "to_embedding",
    "to_full",
    "world_forward",
]


def _check_world(layers: Sequence[ShardedEmbedding]) -> list[ShardedEmbedding]:
    if isinstance(layers, ShardedEmbedding):
        layers = [layers]
    if not layers or not all(isinstance(layer, ShardedEmbedding) for layer in layers):
        raise ValueError("layers must be a non-empty sequence of ShardedEmbedding, one per rank")
    first = layers[0]
    if len(layers) != first.world_size:
        raise ValueError(f"a world of world_size={first.world_size} needs {first.world_size} "
                         f"layers, got {len(layers)}")
    key = _world_key(first)
    for rank, layer in enumerate(layers):
        if layer.rank != rank:
            raise ValueError(f"layers[{rank}] is rank {layer.rank}; give layers in rank order")
        if _world_key(layer) != key:
            raise ValueError(f"layers[{rank}] does not describe the same layer as layers[0]")
    return list(layers)


def _world_key(layer: ShardedEmbedding) -> tuple:
    return (layer.num_embeddings, layer.embedding_dim, layer.weight.dtype, layer.world_size,
            tuple(sorted(layer.options().items())))


def to_full(layers: Sequence[ShardedEmbedding]) -> torch.Tensor:
    """The ``(V, D)`` table of a world: every rank's block concatenated in rank order
    (S4.6). Exact inverse of :meth:`ShardedEmbedding.from_full`; a fresh tensor outside
    autograd."""
    layers = _check_world(layers)
    return torch.cat([layer.weight.detach() for layer in layers], dim=1)


def to_embedding(layers: Sequence[ShardedEmbedding], *,
                 device: torch.device | str | None = None) -> Embedding:
    """fairseq2's name: the unsharded, trainable :class:`~.embedding.Embedding` with the
    world's table and options (S4.6)."""
    layers = _check_world(layers)
    first = layers[0]
    return Embedding.from_pretrained(
        to_full(layers).to(device=device), freeze=False, padding_idx=first.padding_idx,
        max_norm=first.max_norm, norm_type=first.norm_type,
        scale_grad_by_freq=first.scale_grad_by_freq)


def build_world(config: ShardedConfig, world_size: int, *,
                device: torch.device | str | None = None) -> list[ShardedEmbedding]:
    """Every rank of a world, in rank order, sharded from one full-table draw (S4.6).

    The draw is ``config.init`` on a ``(V, D)`` table of ``config.dtype`` on ``device``,
    from the global torch RNG, padding row zeroed: the table an unsharded
    :class:`~.embedding.Embedding` built from the same RNG state and options holds.
    """
    if not isinstance(config, ShardedConfig):
        raise TypeError(f"config must be a ShardedConfig, got {type(config).__name__}")
    opts = checked_options(**config.as_kwargs(), rank=0, world_size=world_size)
    full = torch.empty(opts["num_embeddings"], opts["embedding_dim"], dtype=opts["dtype"],
                       device=device)
    init_weight_(full, config.init, padding_idx=config.padding_idx)
    return [ShardedEmbedding(**config.as_kwargs(), rank=rank, world_size=world_size,
                             device=device, full_table=full) for rank in range(world_size)]


def _renorm_world_(layers: list[ShardedEmbedding], rows: torch.Tensor) -> None:
    """The cross-shard renormalisation of S4.4 over a whole world, in lockstep."""
    first = layers[0]
    if first.max_norm is None or rows.numel() == 0:
        return
    p = first.norm_type
    norms = full_norms(combine_norm_terms([norm_terms(layer.weight, rows, p)
                                           for layer in layers], p), p)
    for layer in layers:
        renorm_shard_(layer.weight, rows, norms, first.max_norm)


def _gather_outputs(layers: list[ShardedEmbedding],
                    blocks: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per-rank outputs: gathered with only the own block live (slice backward), or local."""
    if not layers[0].gather_output or len(layers) == 1:
        return blocks
    return [torch.cat([b if s == r else b.detach() for s, b in enumerate(blocks)], dim=-1)
            for r in range(len(blocks))]


def world_forward(layers: Sequence[ShardedEmbedding],
                  input: torch.Tensor) -> list[torch.Tensor]:
    """Run a whole world in lockstep on one input; the output of every rank (S4.3-S4.5).

    Every rank validates ``input`` before anything changes (S0.2-S0.4); with
    ``max_norm`` the referenced rows are renormalised with full-row norms (terms summed,
    or maxed, in rank order) in every stored shard; then each rank looks up its block.
    Gathered outputs hold every block in rank order, only the rank's own block carrying
    its autograd graph (the all-gather's slice backward); local outputs are the blocks.
    """
    layers = _check_world(layers)
    for layer in layers:
        check_indices(input, layer.num_embeddings)
    _renorm_world_(layers, referenced_rows(input, layers[0].weight.device))
    return _gather_outputs(layers, [layer.local_lookup(input) for layer in layers])


def build_grid(config: ShardedConfig, world_size: int, dp_size: int, *,
               device: torch.device | str | None = None) -> list[list[ShardedEmbedding]]:
    """``grid[dp_rank][rank]``: ``dp_size`` replicas of a world, every replica a copy of
    the owner (replica 0), which is built as :func:`build_world` builds a world."""
    dp_size = check_int("dp_size", dp_size, minimum=1)
    owner = build_world(config, world_size, device=device)
    full = to_full(owner)
    replicas = [[ShardedEmbedding.from_full(full, rank=rank, world_size=world_size,
                                            device=device, init=config.init,
                                            **owner[0].options())
                 for rank in range(world_size)] for _ in range(1, dp_size)]
    return [owner, *replicas]


def grid_forward(grid: Sequence[Sequence[ShardedEmbedding]],
                 inputs: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Run a data-parallel x model-parallel grid in lockstep (S4.7): ``outputs[d][r]``.

    ``inputs[d]`` is replica d's input. Every process validates its input before
    anything changes. The owner (replica 0) renormalises the rows referenced by the
    union of all inputs (when ``max_norm`` is set), then "broadcasts": every replica
    looks up its input in the owner's shards, so backward sums every replica's
    gradient into the owner's weight (the broadcast's backward is a sum-reduce onto the
    owner), and non-owner weights receive none. Non-owner weights are overwritten with
    the owner's values, mirroring the broadcast.
    """
    if not grid or len(inputs) != len(grid):
        raise ValueError(f"inputs must hold one tensor per replica ({len(grid)}), "
                         f"got {len(inputs)}")
    replicas = [_check_world(replica) for replica in grid]
    owner = replicas[0]
    if any(_world_key(layer) != _world_key(owner[0]) for layer in chain(*replicas)):
        raise ValueError("every replica must describe the same layer as the owner")
    for replica, input in zip(replicas, inputs, strict=True):
        for layer in replica:
            check_indices(input, layer.num_embeddings)
    device = owner[0].weight.device
    union = torch.unique(torch.cat([referenced_rows(x, device) for x in inputs]))
    _renorm_world_(owner, union)
    with torch.no_grad():
        for replica in replicas[1:]:
            for layer, owned in zip(replica, owner, strict=True):
                layer.weight.copy_(owned.weight)
    return [_gather_outputs(owner, [layer.local_lookup(x) for layer in owner]) for x in inputs]


def owner_gradient(replica_grads: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
    """The data-parallel rule (S4.7): the owner's gradient is the sum of every replica's
    gradient of its shard, in replica order; a replica without gradient (None)
    contributes nothing; None if no replica has one."""
    present = [g for g in replica_grads if g is not None]
    if not present:
        return None
    total = present[0]
    for g in present[1:]:
        total = total + g
    return total

