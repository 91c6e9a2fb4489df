"""The ``sharded`` family at world size 1 in eager PyTorch (spec section 4).

With one rank the column block is the whole table ``(V, D)``: both partitions hold
every column, the gathered and the local output coincide, and the cross-shard
``max_norm`` reduction has a single term. The layer is therefore a section-1 embedding
(no sparse gradients) whose renormalisation goes through the column-shard kernels
(float64 norm terms, S4.4), exactly the computation a multi-rank composition of
:class:`~.kernels.EagerKernels` performs with a collective in the middle.
"""

from __future__ import annotations

from typing import get_args

import torch
from embedspec.reference.configs import InitScheme, Partition, ShardedConfig
from torch import nn

from . import kernels
from .embedding import (
    LookupOptions,
    OptionAttributes,
    check_dtype,
    check_init,
    check_sizes,
    init_table_,
)

PARTITIONS: tuple[str, ...] = get_args(Partition)


class EagerShardedEmbedding(OptionAttributes, nn.Module):
    """Rank 0 of a one-rank sharded embedding: ``weight`` is the full ``(V, D)`` table.

    Options as the embedding family without ``sparse``; ``partition`` (``"balanced"`` or
    ``"even"``) and ``gather_output`` are validated and kept, and have no effect on a
    single rank. Initialised by ``init`` with the padding row zeroed.
    """

    rank = 0
    world_size = 1

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, partition: str = "balanced",
                 gather_output: bool = True, init: InitScheme = "normal",
                 dtype: torch.dtype | None = torch.float32, *,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        num_embeddings, embedding_dim = check_sizes(num_embeddings, embedding_dim)
        self.options = LookupOptions.validate(num_embeddings, padding_idx, max_norm, norm_type,
                                              scale_grad_by_freq)
        if partition not in PARTITIONS:
            raise ValueError(f"partition must be one of {', '.join(PARTITIONS)}, "
                             f"got {partition!r}")
        if not isinstance(gather_output, bool):
            raise ValueError(f"gather_output must be a bool, got {gather_output!r}")
        init = check_init(init)
        dtype = check_dtype(dtype)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.partition = partition
        self.gather_output = gather_output
        self.sizes = [embedding_dim]
        self.column_start, self.column_end = 0, embedding_dim
        self.weight = nn.Parameter(
            torch.empty(num_embeddings, embedding_dim, dtype=dtype, device=device))
        init_table_(self.weight, init, self.options.padding_idx)

    @classmethod
    def from_config(cls, config: ShardedConfig, *,
                    device: torch.device | str | None = None) -> EagerShardedEmbedding:
        return cls(**config.as_kwargs(), device=device)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        options = self.options
        ids = kernels.check_ids(input, options.num_embeddings).to(self.weight.device)
        if options.max_norm is not None:
            kernels.shard_renorm_(self.weight, ids, options.max_norm, options.norm_type)
        return kernels.lookup(ids, self.weight, padding_idx=options.padding_idx,
                              scale_grad_by_freq=options.scale_grad_by_freq)

    def to_full(self) -> torch.Tensor:
        """The full ``(V, D)`` table: a fresh copy of the single rank's block."""
        return self.weight.detach().clone()

    def extra_repr(self) -> str:
        options = self.options.extra_repr()
        return (f"{self.num_embeddings}, {self.embedding_dim}, rank=0, world_size=1, "
                f"partition={self.partition!r}, gather_output={self.gather_output}"
                + (f", {options}" if options else ""))
