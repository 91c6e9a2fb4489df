"""The vocab-parallel layer over a process group (spec section 3).

Same semantics and parameter layout as
:class:`embedspec.reference.VocabParallelEmbedding` at the same rank: the vocabulary
layout, shard ranges and masking are the eager backend's
(:mod:`embedspec.backends.eager.vocab_layout`); the lookup is the compute backend's
kernel; the combination is one all-reduce.

Out-of-range ids raise ``IndexError`` on every rank before any collective (S0.3), so
no rank is left waiting in the all-reduce for a rank that raised. A local check
suffices: in tensor parallelism every rank receives the same input (the input is
replicated across the group; that is the layer's contract), so every rank reaches the
same verdict without communicating.
"""

from __future__ import annotations

import torch
from embedspec.backends import support
from embedspec.backends.eager.vocab_layout import VocabLayout
from embedspec.backends.kernels import EmbeddingKernels
from embedspec.reference import Collectives
from embedspec.reference.configs import VocabParallelConfig
from torch import nn


class DistributedVocabParallelEmbedding(nn.Module):
    """One tensor-parallel rank of a vocab-parallel embedding.

    ``weight`` holds ``num_embeddings_per_partition`` rows (base, base padding, added,
    added padding). A fresh layer draws the full ``(num_embeddings, D)`` table N(0, 1)
    from the global RNG and keeps its shard (S3.8): every rank started from the same
    RNG state holds its part of one table, the table the reference draws.
    """

    weight: nn.Parameter

    def __init__(self, config: VocabParallelConfig, *, rank: int, world_size: int,
                 device: torch.device, collectives: Collectives,
                 kernels: EmbeddingKernels) -> None:
        super().__init__()
        layout = VocabLayout.create(config.num_embeddings, config.org_num_embeddings,
                                    config.padding_size, world_size)
        rank, _ = support.check_rank(rank, world_size, rank_name="tp_rank", size_name="tp_size")
        embedding_dim = support.check_int("embedding_dim", config.embedding_dim, minimum=0)
        dtype = support.check_dtype(config.params_dtype, "params_dtype")
        self.config = config
        self.layout = layout
        self.shard = layout.shard(rank)
        self.tp_rank = rank
        self.tp_size = world_size
        self.collectives = collectives
        self.kernels = kernels
        self.num_embeddings = layout.num_embeddings
        self.embedding_dim = embedding_dim
        self.org_vocab_size = layout.org_vocab_size
        self.num_added_embeddings = layout.num_added_embeddings
        self.num_embeddings_padded = layout.num_embeddings_padded
        self.num_embeddings_per_partition = layout.num_embeddings_per_partition
        self.weight = nn.Parameter(layout.initial_shard(rank, embedding_dim, dtype, device))

    def forward(self, input_: torch.Tensor) -> torch.Tensor:
        """Validate (locally, see the module docstring), mask, look up, all-reduce (S3.6)."""
        support.check_ids(input_, self.num_embeddings, "input_")
        rows, not_mine = self.shard.masked_rows(input_)
        local = self.kernels.lookup(rows.to(self.weight.device), self.weight)
        partial = local.masked_fill(not_mine.to(local.device).unsqueeze(-1), 0)
        return self.collectives.all_reduce_sum(partial)

    def weight_loader(self, param: nn.Parameter, loaded_weight: torch.Tensor) -> None:
        """Load this rank's shard of a checkpoint table (S3.9): ``org_vocab_size`` rows
        (base only; added rows become zero) or ``num_embeddings`` rows (base then added).
        ``ValueError`` for anything else, with the weight unchanged (S0.4)."""
        loaded = support.check_loaded_weight(
            param, self.weight, loaded_weight, org_vocab_size=self.org_vocab_size,
            num_embeddings=self.num_embeddings, embedding_dim=self.embedding_dim)
        with torch.no_grad():
            param.copy_(self.shard.cut(self.layout.full_from_checkpoint(loaded)))

    def get_sharded_to_full_mapping(self) -> list[int] | None:
        """None below 2 ranks; else where each gathered row goes in token-id order (S3.7)."""
        return None if self.tp_size < 2 else self.layout.sharded_to_full_mapping()

    def extra_repr(self) -> str:
        return (f"num_embeddings={self.num_embeddings}, embedding_dim={self.embedding_dim}, "
                f"org_vocab_size={self.org_vocab_size}, tp_rank={self.tp_rank}, "
                f"tp_size={self.tp_size}")
