"""The vocab-parallel layer over a process group (spec section 3).

Same semantics and parameter layout as
:class:`embedspec.reference.vocab_parallel.VocabParallelEmbedding` at the same rank:
the vocabulary layout, shard indices and masking are the spec's own helpers; the
lookup is the compute backend's kernel; the combination is one all-reduce.

Out-of-range ids raise ``IndexError`` on every rank before any collective (S0.3), so
no rank is left waiting in the all-reduce for a rank that raised. A local check
suffices: in tensor parallelism every rank receives the same input (the input is
replicated across the group; that is the layer's contract), so every rank reaches the
same verdict without communicating.
"""

from __future__ import annotations

import torch
from embedspec.backends.kernels import EmbeddingKernels
from embedspec.reference.collectives import Collectives
from embedspec.reference.configs import VocabParallelConfig
from embedspec.reference.init import init_weight_
from embedspec.reference.validation import check_float_dtype, check_indices, check_int
from embedspec.reference.vocab_parallel import shard_full_weight
from embedspec.reference.vocab_parallel_sizes import VocabLayout, get_masked_input_and_mask
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
        embedding_dim = check_int("embedding_dim", config.embedding_dim, minimum=0)
        dtype = check_float_dtype("params_dtype", config.params_dtype) or torch.get_default_dtype()
        self.config = config
        self.layout = layout
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
        self.shard_indices = layout.shard_indices(rank)
        full = torch.empty(layout.num_embeddings, embedding_dim, dtype=dtype, device=device)
        init_weight_(full, "normal")
        self.weight = nn.Parameter(shard_full_weight(full, config, rank, world_size))

    def forward(self, input_: torch.Tensor) -> torch.Tensor:
        """Validate (locally, see the module docstring), mask, look up, all-reduce (S3.6)."""
        check_indices(input_, self.num_embeddings, "input_")
        s = self.shard_indices
        rows, not_mine = get_masked_input_and_mask(
            input_, s.org_vocab_start_index, s.org_vocab_end_index, s.num_org_vocab_padding,
            s.added_vocab_start_index, s.added_vocab_end_index)
        local = self.kernels.lookup(rows.to(self.weight.device), self.weight)
        partial = local.masked_fill(not_mine.to(local.device).unsqueeze(-1), 0)
        return self.collectives.all_reduce_sum(partial)

    def weight_loader(self, param: nn.Parameter, loaded_weight: torch.Tensor) -> None:
        """Load this rank's shard of a checkpoint table (S3.9): ``org_vocab_size`` rows
        (base only; added rows become zero) or ``num_embeddings`` rows (base then added).
        ``ValueError`` for anything else, with the weight unchanged (S0.4)."""
        if param is not self.weight:
            raise ValueError("param must be this layer's weight parameter")
        if not isinstance(loaded_weight, torch.Tensor) or not loaded_weight.is_floating_point():
            what = (f"dtype {loaded_weight.dtype}" if isinstance(loaded_weight, torch.Tensor)
                    else type(loaded_weight).__name__)
            raise ValueError(f"loaded_weight must be a floating-point tensor, got {what}")
        shapes = [(self.org_vocab_size, self.embedding_dim),
                  (self.num_embeddings, self.embedding_dim)]
        if tuple(loaded_weight.shape) not in shapes:
            raise ValueError(f"loaded_weight must have shape {shapes[0]} (base vocab only) or "
                             f"{shapes[1]} (base then added vocab), got "
                             f"{tuple(loaded_weight.shape)}")
        full = loaded_weight.detach()
        if full.shape[0] != self.num_embeddings:
            full = torch.cat([full, full.new_zeros(self.num_added_embeddings, self.embedding_dim)])
        with torch.no_grad():
            param.copy_(shard_full_weight(full, self.config, self.tp_rank, self.tp_size))

    def get_sharded_to_full_mapping(self) -> list[int] | None:
        """None below 2 ranks; else where each gathered row goes in token-id order (S3.7)."""
        return None if self.tp_size < 2 else self.layout.sharded_to_full_mapping()

    def extra_repr(self) -> str:
        return (f"num_embeddings={self.num_embeddings}, embedding_dim={self.embedding_dim}, "
                f"org_vocab_size={self.org_vocab_size}, tp_rank={self.tp_rank}, "
                f"tp_size={self.tp_size}")
