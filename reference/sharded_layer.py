"""The sharded layer (spec section 4): one rank's column block of an embedding table.

:class:`ShardedEmbedding` is the family's layer; :class:`DistributedEmbedding` gives it
DistDL's constructor shape. Simulating whole worlds is :mod:`.sharded_world`'s job; the
collective protocol is stated in :mod:`.sharded`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .collectives import Collectives, LocalCollectives
from .configs import InitScheme, ShardedConfig
from .embedding_functional import lookup
from .init import check_init_scheme, init_weight_
from .partition import check_partition, column_range, partition_sizes
from .sharded_norm import full_norms, norm_terms, reduce_op, referenced_rows, renorm_shard_
from .validation import (
    check_device,
    check_float_dtype,
    check_indices,
    check_int,
    check_max_norm,
    check_rank,
    check_weight,
    normalize_padding_idx,
)
from .world_checks import check_collectives

__all__ = ["DistributedEmbedding", "ShardedEmbedding", "checked_options"]


class ShardedEmbedding(nn.Module):
    """One rank's column block of an embedding table (spec section 4).

    Options as the embedding family (S4.2, section 1): ``padding_idx`` in ``[-V, V-1]``,
    normalised (S1.1; its row gets a zero gradient on every shard), ``max_norm`` /
    ``norm_type`` (S4.4: full-row norms reduced across shards, stored shards
    renormalised), ``scale_grad_by_freq`` (S1.3). No sparse gradients.
    ``partition``: ``"balanced"`` or ``"even"`` (S4.1). ``gather_output``: return the
    full ``D`` columns (True) or this rank's block (False) (S4.3). ``init``: a scheme of
    :mod:`.init`. ``dtype``: floating dtype of the weight (None: the default dtype).

    Placement: ``rank``/``world_size`` of the model-parallel world, ``device``, and
    ``collectives`` (rank and size must match). ``full_table``, if given, is the
    ``(V, D)`` table (of dtype ``dtype``) whose column block this rank copies, used as is;
    otherwise the layer draws one full table by ``init`` on ``device`` from the global
    torch RNG, zeroes its padding row and keeps its block (S4.6), so every rank of a
    world seeded alike, and an unsharded :class:`~.embedding.Embedding` built with the
    same seed and options, hold the same values.

    Every argument is validated before anything is allocated (``ValueError`` naming
    it, S0.5). ``weight`` has shape ``(V, end - start)`` for this rank's
    :func:`~.partition.column_range`.
    """

    weight: nn.Parameter

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        partition: str = "balanced",
        gather_output: bool = True,
        init: InitScheme = "normal",
        dtype: torch.dtype | None = None,
        *,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str | None = None,
        collectives: Collectives | None = None,
        full_table: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        opts = checked_options(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                                scale_grad_by_freq, partition, gather_output, init, dtype,
                                rank, world_size)
        num_embeddings, embedding_dim = opts["num_embeddings"], opts["embedding_dim"]
        rank, world_size, dtype = opts["rank"], opts["world_size"], opts["dtype"]
        check_collectives(collectives, rank, world_size)
        device = check_device(device)
        if full_table is not None:
            check_weight(full_table, "full_table")
            if tuple(full_table.shape) != (num_embeddings, embedding_dim) \
                    or full_table.dtype != dtype:
                raise ValueError(
                    f"full_table must be a ({num_embeddings}, {embedding_dim}) tensor of dtype "
                    f"{dtype}, got {tuple(full_table.shape)} of {full_table.dtype}")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = opts["padding_idx"]
        self.max_norm = opts["max_norm"]
        self.norm_type = opts["norm_type"]
        self.scale_grad_by_freq = opts["scale_grad_by_freq"]
        self.partition = opts["partition"]
        self.gather_output = opts["gather_output"]
        self.init = opts["init"]
        self.rank = rank
        self.world_size = world_size
        self.collectives = collectives
        self.sizes = partition_sizes(embedding_dim, world_size, self.partition)
        self.column_start, self.column_end = column_range(embedding_dim, rank, world_size,
                                                          self.partition)
        if full_table is None:
            full_table = torch.empty(num_embeddings, embedding_dim, dtype=dtype, device=device)
            init_weight_(full_table, self.init, padding_idx=self.padding_idx)
        block = full_table.detach()[:, self.column_start:self.column_end]
        self.weight = nn.Parameter(block.to(device=device, copy=True))

    @classmethod
    def from_config(cls, config: ShardedConfig, *, rank: int = 0, world_size: int = 1,
                    device: torch.device | str | None = None,
                    collectives: Collectives | None = None) -> ShardedEmbedding:
        """Rank ``rank`` of ``world_size`` of the layer ``config`` describes."""
        if not isinstance(config, ShardedConfig):
            raise TypeError(f"config must be a ShardedConfig, got {type(config).__name__}")
        return cls(**config.as_kwargs(), rank=rank, world_size=world_size, device=device,
                   collectives=collectives)

    @classmethod
    def from_full(cls, weight: torch.Tensor, *, rank: int = 0, world_size: int = 1,
                  device: torch.device | str | None = None,
                  collectives: Collectives | None = None, **options: Any) -> ShardedEmbedding:
        """Rank ``rank``'s shard of the full ``(V, D)`` table ``weight`` (S4.6).

        ``V``, ``D`` and the dtype come from ``weight``; ``options`` are the other
        constructor arguments (``padding_idx``, ``max_norm``, ``partition``, ...). The
        block is copied exactly, the padding row included (it is not zeroed), so
        :func:`to_full` of every rank's shard returns ``weight`` bitwise.
        """
        check_weight(weight)
        rows, cols = weight.shape
        return cls(rows, cols, dtype=weight.dtype, rank=rank, world_size=world_size,
                   device=device, collectives=collectives, full_table=weight, **options)

    @classmethod
    def from_embedding(cls, embed: nn.Module, rank: int = 0, world_size: int = 1, *,
                       partition: str = "balanced", gather_output: bool = True,
                       device: torch.device | str | None = None,
                       collectives: Collectives | None = None) -> ShardedEmbedding:
        """fairseq2's name: shard an unsharded embedding layer (S4.6).

        ``embed`` is an :class:`~.embedding.Embedding` or a ``torch.nn.Embedding``; its
        table and options (``padding_idx``, ``max_norm``, ``norm_type``,
        ``scale_grad_by_freq``) carry over. ``ValueError`` if it uses sparse gradients.
        """
        weight = getattr(embed, "weight", None)
        if not isinstance(weight, torch.Tensor):
            raise ValueError(f"embed must be an embedding layer, got {type(embed).__name__}")
        if getattr(embed, "sparse", False):
            raise ValueError("the sharded family has no sparse gradients; embed.sparse is True")
        return cls.from_full(
            weight, rank=rank, world_size=world_size, device=device, collectives=collectives,
            padding_idx=getattr(embed, "padding_idx", None),
            max_norm=getattr(embed, "max_norm", None),
            norm_type=getattr(embed, "norm_type", 2.0),
            scale_grad_by_freq=getattr(embed, "scale_grad_by_freq", False),
            partition=partition, gather_output=gather_output)

    def needs_collectives(self) -> bool:
        """True when a forward must talk to the other ranks: ``world_size > 1`` and a
        gathered output or a ``max_norm``."""
        return self.world_size > 1 and (self.gather_output or self.max_norm is not None)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """One rank's forward (S4.3-S4.5): validate, renormalise, look up, gather.

        1. ``TypeError``/``IndexError`` for bad indices (S0.2/S0.3), before anything.
        2. With ``max_norm``: norm terms of the referenced rows, ``all_reduce_no_grad``,
           scale the stored shard (:mod:`.sharded_norm`).
        3. ``lookup`` of the local block (padding row and ``scale_grad_by_freq`` as S1).
        4. ``all_gather_last_dim`` if ``gather_output``, else the local block.

        Without ``collectives`` a world of one rank needs none; a larger world raises
        ``RuntimeError`` when :meth:`needs_collectives` (simulate the world with
        :func:`~.sharded_world.world_forward` instead) (S4.9).
        """
        check_indices(input, self.num_embeddings)
        collectives = self.collectives
        if collectives is None:
            if self.needs_collectives():
                raise RuntimeError(
                    f"rank {self.rank} of a sharded world of {self.world_size} needs "
                    "collectives for gather_output=True or max_norm; pass collectives=..., "
                    "or simulate the world with world_forward(layers, input)")
            collectives = LocalCollectives()
        if self.max_norm is not None and input.numel() > 0:
            rows = referenced_rows(input, self.weight.device)
            terms = norm_terms(self.weight, rows, self.norm_type)
            if self.world_size > 1:
                terms = collectives.all_reduce_no_grad(terms, reduce_op(self.norm_type))
            renorm_shard_(self.weight, rows, full_norms(terms, self.norm_type), self.max_norm)
        local = self.local_lookup(input)
        if self.gather_output and self.world_size > 1:
            return collectives.all_gather_last_dim(local, list(self.sizes))
        return local

    def local_lookup(self, input: torch.Tensor) -> torch.Tensor:
        """This rank's partial (S4.3): ``lookup`` of its column block with the layer's
        ``padding_idx`` and ``scale_grad_by_freq``; no renormalisation, no collective."""
        return lookup(input, self.weight, padding_idx=self.padding_idx,
                      scale_grad_by_freq=self.scale_grad_by_freq)

    def options(self) -> dict[str, Any]:
        """The layer's options as constructor keyword arguments (no sizes, no placement)."""
        return {"padding_idx": self.padding_idx, "max_norm": self.max_norm,
                "norm_type": self.norm_type, "scale_grad_by_freq": self.scale_grad_by_freq,
                "partition": self.partition, "gather_output": self.gather_output}

    def extra_repr(self) -> str:
        return (f"{self.num_embeddings}, {self.embedding_dim}, rank={self.rank}, "
                f"world_size={self.world_size}, columns=[{self.column_start}, "
                f"{self.column_end}), partition={self.partition!r}, "
                f"gather_output={self.gather_output}")


class DistributedEmbedding(ShardedEmbedding):
    """DistDL's constructor shape over :class:`ShardedEmbedding` (S4.8).

    ``P_x_shape`` is the partition shape ``[..., 1, P]`` (or just ``P``): the last axis
    splits the embedding dimension with the balanced rule, the second last must be 1,
    the leading axes are data-parallel replicas (``dp_size`` is their product; see
    :func:`grid_forward`). The output is the rank's local column block
    (``gather_output=False``), and ``sparse`` must be False.
    """

    def __init__(self, P_x_shape: int | Sequence[int], num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False,
                 *, rank: int = 0, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 collectives: Collectives | None = None) -> None:
        shape = _partition_shape(P_x_shape)
        if sparse is not False:
            raise ValueError(f"sparse must be False: the sharded family has no sparse "
                             f"gradients, got {sparse!r}")
        super().__init__(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                         scale_grad_by_freq, partition="balanced", gather_output=False,
                         dtype=dtype, rank=rank, world_size=shape[-1], device=device,
                         collectives=collectives)
        self.P_x_shape = shape
        self.dp_size = math.prod(shape[:-2])


def checked_options(num_embeddings: object, embedding_dim: object, padding_idx: object,
                     max_norm: object, norm_type: object, scale_grad_by_freq: object,
                     partition: object, gather_output: object, init: object, dtype: object,
                     rank: object, world_size: object) -> dict[str, Any]:
    """Every constructor argument checked and normalised (``ValueError`` naming it, S0.5)."""
    num_embeddings = check_int("num_embeddings", num_embeddings, minimum=0)
    embedding_dim = check_int("embedding_dim", embedding_dim, minimum=0)
    rank, world_size = check_rank(rank, world_size)
    max_norm, norm_type = check_max_norm(max_norm, norm_type)
    for name, flag in (("scale_grad_by_freq", scale_grad_by_freq),
                       ("gather_output", gather_output)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be a bool, got {flag!r}")
    return {
        "num_embeddings": num_embeddings, "embedding_dim": embedding_dim,
        "padding_idx": normalize_padding_idx(padding_idx, num_embeddings),
        "max_norm": max_norm, "norm_type": norm_type,
        "scale_grad_by_freq": scale_grad_by_freq, "gather_output": gather_output,
        "partition": check_partition(partition, embedding_dim, world_size),
        "init": check_init_scheme(init),
        "dtype": check_float_dtype("dtype", dtype) or torch.get_default_dtype(),
        "rank": rank, "world_size": world_size,
    }


def _partition_shape(P_x_shape: object) -> tuple[int, ...]:
    if isinstance(P_x_shape, int) and not isinstance(P_x_shape, bool):
        P_x_shape = (1, P_x_shape)
    if not isinstance(P_x_shape, Sequence) or len(P_x_shape) < 2:
        raise ValueError(f"P_x_shape must be a world size or a shape [..., 1, P], "
                         f"got {P_x_shape!r}")
    shape = tuple(check_int("P_x_shape entry", e, minimum=1) for e in P_x_shape)
    if shape[-2] != 1:
        raise ValueError(f"P_x_shape must have 1 as its second last entry, got {list(shape)}")
    return shape


