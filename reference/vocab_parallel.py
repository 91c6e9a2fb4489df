"""The vocab-parallel family (spec section 3): FastVideo/vLLM ``VocabParallelEmbedding``.

The vocabulary (rows) is split over ``tp_size`` tensor-parallel ranks with the layout of
:mod:`.vocab_parallel_sizes` (S3.1-S3.4). Each rank computes a *partial*: the rows it
owns, exact zeros elsewhere; the output is the sum of the partials of every rank (one
all-reduce). In one process the whole world is simulated by :func:`build_world` and
:func:`world_forward`; a distributed backend gives each rank a :class:`Collectives`.

Collective protocol (S3.6):

* per-rank partial: ``partial_r[i] = W_r[row_r(x[i])]`` if rank r owns id ``x[i]``, else
  exact zeros (:meth:`VocabParallelEmbedding.partial`);
* combination: the elementwise sum over ranks, in rank order
  (:func:`combine_partials`; every position has exactly one non-zero term, so the sum
  is exact in every dtype and every order);
* autograd: identity backward. Each rank's output gradient flows unchanged into its own
  partial; so the gradient of local row ``j`` of rank r is the sum of the output
  gradients at the positions whose id rank r stores in row ``j``, and every padding row
  and every row of an id not in the input gets exactly zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .collectives import Collectives
from .configs import VocabParallelConfig
from .embedding_functional import lookup
from .init import init_weight_
from .validation import check_device, check_float_dtype, check_indices, check_int, check_rank
from .vocab_parallel_sizes import (
    DEFAULT_VOCAB_PADDING_SIZE,
    VocabLayout,
    VocabParallelEmbeddingShardIndices,
    get_masked_input_and_mask,
)
from .world_checks import check_collectives

__all__ = [
    "VocabParallelEmbedding",
    "build_world",
    "combine_partials",
    "full_weight",
    "shard_full_weight",
    "world_forward",
]


class VocabParallelEmbedding(nn.Module):
    """One tensor-parallel rank's share of a vocab-parallel embedding (spec section 3).

    Arguments: FastVideo's (``num_embeddings``, ``embedding_dim``, ``params_dtype``,
    ``org_num_embeddings``, ``padding_size``), then where the rank lives: ``tp_rank``,
    ``tp_size``, ``device`` and ``collectives`` (its process group; rank and world size
    must match). ``params_dtype=None`` means the global default dtype (S3.11).
    ``full_table``, if given, is the ``(num_embeddings, embedding_dim)`` table this
    rank's shard is cut from (see :func:`shard_full_weight`); otherwise the layer draws
    one (S3.8): N(0, 1) from the global torch RNG, in ``params_dtype`` on ``device``,
    then shards it, so every rank of a world seeded alike, and an unsharded layer,
    hold the same rows. Padding rows are zero. The weight is trainable.

    Every argument is validated before anything is allocated (``ValueError`` naming
    it, S0.5; see :meth:`VocabLayout.create`).

    Attributes: ``weight`` (``num_embeddings_per_partition`` x ``embedding_dim``, in the
    local order base, base padding, added, added padding), ``shard_indices``,
    ``org_vocab_size``, ``org_vocab_size_padded``, ``num_embeddings_padded``,
    ``num_added_embeddings``, ``num_embeddings_per_partition``,
    ``num_org_embeddings_per_partition``, ``num_added_embeddings_per_partition``.
    """

    weight: nn.Parameter

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        params_dtype: torch.dtype | None = None,
        org_num_embeddings: int | None = None,
        padding_size: int = DEFAULT_VOCAB_PADDING_SIZE,
        *,
        tp_rank: int = 0,
        tp_size: int = 1,
        device: torch.device | str | None = None,
        collectives: Collectives | None = None,
        full_table: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        layout = VocabLayout.create(num_embeddings, org_num_embeddings, padding_size, tp_size)
        embedding_dim = check_int("embedding_dim", embedding_dim, minimum=0)
        tp_rank, tp_size = check_rank(tp_rank, tp_size, rank_name="tp_rank", size_name="tp_size")
        dtype = check_float_dtype("params_dtype", params_dtype) or torch.get_default_dtype()
        check_collectives(collectives, tp_rank, tp_size)
        device = check_device(device)
        if full_table is not None:
            _check_full_table(full_table, layout.num_embeddings, embedding_dim, "full_table")
        self.layout = layout
        self.tp_rank = tp_rank
        self.tp_size = tp_size
        self.collectives = collectives
        self.num_embeddings = layout.num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_size = layout.padding_size
        self.params_dtype = dtype
        self.org_vocab_size = layout.org_vocab_size
        self.org_vocab_size_padded = layout.org_vocab_size_padded
        self.num_embeddings_padded = layout.num_embeddings_padded
        self.num_added_embeddings = layout.num_added_embeddings
        self.num_embeddings_per_partition = layout.num_embeddings_per_partition
        self.shard_indices: VocabParallelEmbeddingShardIndices = layout.shard_indices(tp_rank)
        self.num_org_embeddings_per_partition = self.shard_indices.num_org_elements
        self.num_added_embeddings_per_partition = self.shard_indices.num_added_elements
        if full_table is None:
            full_table = torch.empty(layout.num_embeddings, embedding_dim, dtype=dtype,
                                     device=device)
            init_weight_(full_table, "normal")
        local = _shard_rows(full_table.detach(), layout, tp_rank).to(dtype=dtype, device=device)
        self.weight = nn.Parameter(local)

    @classmethod
    def from_config(cls, config: VocabParallelConfig, *, rank: int = 0, world_size: int = 1,
                    device: torch.device | str | None = None,
                    collectives: Collectives | None = None) -> VocabParallelEmbedding:
        """Rank ``rank`` of ``world_size`` of the layer ``config`` describes."""
        if not isinstance(config, VocabParallelConfig):
            raise TypeError(f"config must be a VocabParallelConfig, got {type(config).__name__}")
        return cls(**config.as_kwargs(), tp_rank=rank, tp_size=world_size, device=device,
                   collectives=collectives)

    def partial(self, input_: torch.Tensor) -> torch.Tensor:
        """This rank's partial output (S3.4, S3.6): shape ``input_.shape + (D,)``, dtype
        and device of the weight; the stored row for owned ids, exact zeros elsewhere.

        Validates first: ``TypeError`` for a bad index dtype (S0.2), ``IndexError`` for
        any id outside ``[0, num_embeddings)`` (S0.3, S3.10), whether or not this rank
        owns it; padded ids are invalid. The mapping is S3.4's at every ``tp_size``, 1
        included, so an added id reads its added row at every world size.
        """
        check_indices(input_, self.num_embeddings, "input_")
        s = self.shard_indices
        masked, not_mine = get_masked_input_and_mask(
            input_, s.org_vocab_start_index, s.org_vocab_end_index, s.num_org_vocab_padding,
            s.added_vocab_start_index, s.added_vocab_end_index)
        rows = lookup(masked, self.weight)
        return rows.masked_fill(not_mine.to(rows.device).unsqueeze(-1), 0)

    def forward(self, input_: torch.Tensor) -> torch.Tensor:
        """``collectives.all_reduce_sum(self.partial(input_))`` (S3.6).

        At ``tp_size == 1`` no collective is needed and the partial is the output. With
        ``tp_size > 1`` and no ``collectives`` there is no world to reduce over:
        ``RuntimeError`` (simulate the world with :func:`world_forward`, or combine
        per-rank :meth:`partial` results with :func:`combine_partials`).
        """
        if self.collectives is None and self.tp_size > 1:
            raise RuntimeError(
                f"rank {self.tp_rank} of a vocab-parallel world of {self.tp_size} needs "
                "collectives to reduce its partial output; pass collectives=..., simulate "
                "the world with world_forward(layers, input), or combine the ranks' "
                "partial(input) results with combine_partials")
        out = self.partial(input_)
        return out if self.collectives is None else self.collectives.all_reduce_sum(out)

    def weight_loader(self, param: nn.Parameter, loaded_weight: torch.Tensor) -> None:
        """Load this rank's shard of a checkpoint table into ``param`` (S3.9).

        ``param`` must be this layer's ``weight``. ``loaded_weight`` is a floating 2-D
        tensor with ``embedding_dim`` columns and either ``org_vocab_size`` rows (base
        only: the rank's base rows are copied, every other row becomes zero, added rows
        included, as upstream does) or ``num_embeddings`` rows (base then added: the
        rank's base and added rows are copied, padding rows become zero). Anything else
        raises ``ValueError`` and leaves the weight unchanged (S0.4).
        """
        if param is not self.weight:
            raise ValueError("param must be this layer's weight parameter")
        if not isinstance(loaded_weight, torch.Tensor) or not loaded_weight.is_floating_point():
            what = (f"dtype {loaded_weight.dtype}" if isinstance(loaded_weight, torch.Tensor)
                    else type(loaded_weight).__name__)
            raise ValueError(f"loaded_weight must be a floating-point tensor, got {what}")
        rows_ok = (self.org_vocab_size, self.num_embeddings)
        if loaded_weight.dim() != 2 or loaded_weight.shape[1] != self.embedding_dim \
                or loaded_weight.shape[0] not in rows_ok:
            raise ValueError(
                f"loaded_weight must have shape ({self.org_vocab_size}, {self.embedding_dim}) "
                f"(base vocab only) or ({self.num_embeddings}, {self.embedding_dim}) "
                f"(base then added vocab), got {tuple(loaded_weight.shape)}")
        source = loaded_weight.detach()
        if source.shape[0] != self.num_embeddings:
            zeros = source.new_zeros(self.num_added_embeddings, self.embedding_dim)
            source = torch.cat([source, zeros])
        with torch.no_grad():
            param.copy_(_shard_rows(source, self.layout, self.tp_rank))

    def get_sharded_to_full_mapping(self) -> list[int] | None:
        """None below ``tp_size`` 2, else :meth:`VocabLayout.sharded_to_full_mapping` (S3.7)."""
        return None if self.tp_size < 2 else self.layout.sharded_to_full_mapping()

    def extra_repr(self) -> str:
        return (f"num_embeddings={self.num_embeddings}, "
                f"embedding_dim={self.embedding_dim}, "
                f"org_vocab_size={self.org_vocab_size}, "
                f"num_embeddings_padded={self.num_embeddings_padded}, "
                f"tp_rank={self.tp_rank}, tp_size={self.tp_size}")


def _check_full_table(full: object, num_embeddings: int, embedding_dim: int, name: str) -> None:
    if not isinstance(full, torch.Tensor) or not full.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor")
    if tuple(full.shape) != (num_embeddings, embedding_dim):
        raise ValueError(f"{name} must have shape ({num_embeddings}, {embedding_dim}) "
                         f"= (num_embeddings, embedding_dim), got {tuple(full.shape)}")


def _shard_rows(full: torch.Tensor, layout: VocabLayout, rank: int) -> torch.Tensor:
    """Rank ``rank``'s local table cut from the ``(num_embeddings, D)`` table ``full``."""
    s = layout.shard_indices(rank)
    local = full.new_zeros(layout.num_embeddings_per_partition, full.shape[1])
    local[:s.num_org_elements] = full[s.org_vocab_start_index:s.org_vocab_end_index]
    added = s.num_org_elements_padded
    local[added:added + s.num_added_elements] = \
        full[s.added_vocab_start_index:s.added_vocab_end_index]
    return local


def shard_full_weight(full: torch.Tensor, config: VocabParallelConfig, rank: int,
                      world_size: int) -> torch.Tensor:
    """Rank ``rank``'s local table (its ``weight``) cut from a full table (S3.8).

    ``full`` has shape ``(num_embeddings, D)``, rows in token-id order (base then
    added). The result has ``num_embeddings_padded / world_size`` rows laid out as the
    rank's base rows, zero base padding, added rows, zero added padding, in
    ``config.params_dtype``, on ``full``'s device. Applied to the gradient of an
    unsharded table it gives the gradient each rank's weight must hold (S3.5).
    """
    if not isinstance(config, VocabParallelConfig):
        raise TypeError(f"config must be a VocabParallelConfig, got {type(config).__name__}")
    layout = VocabLayout.create(config.num_embeddings, config.org_num_embeddings,
                                config.padding_size, world_size)
    rank, _ = check_rank(rank, world_size)
    _check_full_table(full, layout.num_embeddings, config.embedding_dim, "full")
    dtype = config.params_dtype or torch.get_default_dtype()
    return _shard_rows(full.detach(), layout, rank).to(dtype)


def _check_world(layers: Sequence[VocabParallelEmbedding]) -> None:
    if isinstance(layers, VocabParallelEmbedding) or not layers:
        raise ValueError("layers must be a non-empty sequence of VocabParallelEmbedding, "
                         "one per rank")
    first = layers[0]
    if len(layers) != first.tp_size:
        raise ValueError(f"a world of tp_size={first.tp_size} needs {first.tp_size} layers, "
                         f"got {len(layers)}")
    for rank, layer in enumerate(layers):
        if not isinstance(layer, VocabParallelEmbedding):
            raise ValueError(f"layers[{rank}] is not a VocabParallelEmbedding")
        if layer.tp_rank != rank:
            raise ValueError(f"layers[{rank}] is rank {layer.tp_rank}; give layers in rank order")
        if (layer.layout, layer.embedding_dim) != (first.layout, first.embedding_dim):
            raise ValueError(f"layers[{rank}] does not describe the same layer as layers[0]")


def full_weight(layers: Sequence[VocabParallelEmbedding]) -> torch.Tensor:
    """The ``(num_embeddings, D)`` table a world holds, rows in token-id order (S3.8).

    ``layers`` holds every rank of one world, in rank order. The inverse of
    :func:`shard_full_weight`: padding rows are dropped. Returns a fresh tensor outside
    autograd.
    """
    _check_world(layers)
    base, added = [], []
    for layer in layers:
        s = layer.shard_indices
        w = layer.weight.detach()
        base.append(w[:s.num_org_elements])
        added.append(w[s.num_org_elements_padded:s.num_org_elements_padded + s.num_added_elements])
    return torch.cat(base + added)


def build_world(config: VocabParallelConfig, world_size: int, *,
                device: torch.device | str | None = None) -> list[VocabParallelEmbedding]:
    """Every rank of a world, in rank order, sharded from one full-table draw (S3.8).

    The draw is N(0, 1) of shape ``(num_embeddings, D)`` in ``config.params_dtype`` on
    ``device`` from the global torch RNG: the same rows a single layer built from the
    same RNG state holds.
    """
    if not isinstance(config, VocabParallelConfig):
        raise TypeError(f"config must be a VocabParallelConfig, got {type(config).__name__}")
    world_size = check_int("world_size", world_size, minimum=1)
    VocabLayout.create(config.num_embeddings, config.org_num_embeddings, config.padding_size,
                       world_size)
    embedding_dim = check_int("embedding_dim", config.embedding_dim, minimum=0)
    dtype = check_float_dtype("params_dtype", config.params_dtype) or torch.get_default_dtype()
    full = torch.empty(config.num_embeddings, embedding_dim, dtype=dtype, device=device)
    init_weight_(full, "normal")
    return [VocabParallelEmbedding(**config.as_kwargs(), tp_rank=rank, tp_size=world_size,
                                   device=device, full_table=full)
            for rank in range(world_size)]


def combine_partials(partials: Sequence[torch.Tensor]) -> torch.Tensor:
    """The all-reduce of S3.6: the elementwise sum of every rank's partial, in rank order."""
    if not partials:
        raise ValueError("partials must hold one tensor per rank, got none")
    total = partials[0]
    for p in partials[1:]:
        total = total + p
    return total


class _ReducedOutput(torch.autograd.Function):
    """Returns the reduced value; the gradient flows unchanged into this rank's partial."""

    @staticmethod
    def forward(ctx, own_partial: torch.Tensor, reduced: torch.Tensor) -> torch.Tensor:
        return reduced.clone()

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return grad_output, None


def world_forward(layers: Sequence[VocabParallelEmbedding],
                  input_: torch.Tensor) -> list[torch.Tensor]:
    """Run a whole world in lockstep on one input: the output of every rank (S3.6).

    Every rank validates ``input_`` before any rank computes (``TypeError``/
    ``IndexError``, S0.2/S0.3). Each output equals :func:`combine_partials` of all the
    partials; its autograd graph reaches only its own rank's weight, with identity
    backward (the all-reduce convention of :mod:`.collectives`). Backpropagating the
    same gradient through every rank's output gives each rank the gradient
    :func:`shard_full_weight` cuts from the unsharded gradient.
    """
    _check_world(layers)
    for layer in layers:
        check_indices(input_, layer.num_embeddings, "input_")
    partials = [layer.partial(input_) for layer in layers]
    total = combine_partials([p.detach() for p in partials])
    return [_ReducedOutput.apply(p, total) for p in partials]
