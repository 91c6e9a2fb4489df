"""The ``sharded`` family at world size 1 in eager PyTorch (spec section 4).

With one rank the column block is the whole table ``(V, D)``: both partitions hold
every column, the gathered and the local output coincide, and the cross-shard
``max_norm`` reduction has a single term. The layer is therefore a section-1 embedding
(no sparse gradients) whose renormalisation goes through the column-shard kernels
(float64 norm terms, S4.4), exactly the computation a multi-rank composition of
:class:`~.kernels.EagerKernels` performs with a collective in the middle.
"""

from __future__ import annotations

import torch
from embedspec.backends import support
from embedspec.reference.configs import InitScheme, ShardedConfig
from torch import nn

from . import kernels
from .column_shards import ShardedOptions, column_range, column_sizes
from .embedding import OptionAttributes


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
        checked = ShardedOptions.validate(num_embeddings, embedding_dim, padding_idx, max_norm,
                                          norm_type, scale_grad_by_freq, partition,
                                          gather_output, init, dtype)
        device = support.check_device(device)
        self.options = checked.lookup
        self.num_embeddings = checked.num_embeddings
        self.embedding_dim = checked.embedding_dim
        self.partition = checked.partition
        self.gather_output = checked.gather_output
        self.sizes = column_sizes(checked.embedding_dim, 1)
        self.column_start, self.column_end = column_range(checked.embedding_dim, 0, 1)
        self.weight = nn.Parameter(checked.initial_block(0, 1, device))

    @classmethod
    def from_config(cls, config: ShardedConfig, *,
                    device: torch.device | str | None = None) -> EagerShardedEmbedding:
        return cls(**config.as_kwargs(), device=device)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        options = self.options
        ids = support.check_ids(input, options.num_embeddings).to(self.weight.device)
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
