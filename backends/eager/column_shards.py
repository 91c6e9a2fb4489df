"""Column shards of the ``sharded`` family (spec S4.1, S4.2, S4.6), for any world size.

Rank ``i`` of ``P`` holds ``D div P`` columns, plus one if ``i < D mod P``, starting at
column ``(D div P) * i + min(i, D mod P)``. That is the ``"balanced"`` partition, and the
``"even"`` one wherever it applies (``P`` divides ``D``), so once the partition is
validated both are computed alike. A fresh shard is cut from one full ``(V, D)`` draw,
so every rank of a world seeded alike holds its part of one table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from embedspec.backends import support
from embedspec.backends.support import LookupOptions
from embedspec.reference.configs import InitScheme

from .embedding import init_table_


def column_sizes(embedding_dim: int, world_size: int) -> list[int]:
    """The columns each rank holds, in rank order; they sum to ``embedding_dim``."""
    base, extra = divmod(embedding_dim, world_size)
    return [base + int(rank < extra) for rank in range(world_size)]


def column_range(embedding_dim: int, rank: int, world_size: int) -> tuple[int, int]:
    """The half-open columns ``[start, end)`` rank ``rank`` holds."""
    base, extra = divmod(embedding_dim, world_size)
    start = base * rank + min(rank, extra)
    return start, start + base + int(rank < extra)


@dataclass(frozen=True)
class ShardedOptions:
    """The validated constructor arguments of a sharded layer over ``world_size`` ranks."""

    num_embeddings: int
    embedding_dim: int
    lookup: LookupOptions
    partition: str
    gather_output: bool
    init: InitScheme
    dtype: torch.dtype

    @classmethod
    def validate(cls, num_embeddings: object, embedding_dim: object, padding_idx: object = None,
                 max_norm: object = None, norm_type: object = 2.0,
                 scale_grad_by_freq: object = False, partition: object = "balanced",
                 gather_output: object = True, init: object = "normal",
                 dtype: object = torch.float32, *, world_size: int = 1) -> ShardedOptions:
        """Every argument checked (``ValueError`` naming it, S4.2): the options of section
        1 without ``sparse``, a partition that applies to ``world_size`` ranks (S4.1), a
        bool ``gather_output``, an init scheme and a floating dtype (None: the default)."""
        num_embeddings, embedding_dim = support.check_sizes(num_embeddings, embedding_dim)
        lookup = LookupOptions.validate(num_embeddings, padding_idx, max_norm, norm_type,
                                        scale_grad_by_freq)
        return cls(num_embeddings, embedding_dim, lookup,
                   support.check_partition(partition, embedding_dim, world_size),
                   support.check_bool("gather_output", gather_output),
                   support.check_init(init), support.check_dtype(dtype))

    def initial_block(self, rank: int, world_size: int,
                      device: torch.device | str | None) -> torch.Tensor:
        """Rank ``rank``'s columns of a fresh full table: drawn by ``init`` from the global
        RNG on ``device``, padding row zeroed (S4.6); a contiguous copy."""
        full = torch.empty(self.num_embeddings, self.embedding_dim, dtype=self.dtype,
                           device=device)
        init_table_(full, self.init, self.lookup.padding_idx)
        start, end = column_range(self.embedding_dim, rank, world_size)
        if (start, end) == (0, self.embedding_dim):
            return full
        return full[:, start:end].clone(memory_format=torch.contiguous_format)
