"""Deliberately wrong multi-process backends: the distributed backend with one rule broken.

They prove that the conformance suite, run through the multi-process runner, catches
the bugs real distributed embeddings have. Test material, never backends to use.

* :class:`SilentZeroVocabBackend` mimics vLLM/FastVideo at tensor-parallel size > 1:
  an id outside ``[0, num_embeddings)`` is masked out on every rank and silently
  becomes a zero vector (breaks S0.3: IndexError at every world size).
* :class:`LocalNormShardedBackend` mimics DistDL's ``max_norm``: each rank measures
  the norm of its own column shard only, not of the full row (breaks S4.4).
"""

from __future__ import annotations

import torch
from embedspec.backends.distributed import DistributedBackend
from embedspec.backends.distributed.sharded import DistributedShardedEmbedding
from embedspec.backends.distributed.vocab_parallel import DistributedVocabParallelEmbedding
from embedspec.reference.embedding_functional import RENORM_EPS
from embedspec.reference.sharded_norm import full_norms
from embedspec.reference.validation import check_index_dtype, check_indices
from embedspec.reference.vocab_parallel_sizes import get_masked_input_and_mask


class _SilentZeroVocabLayer(DistributedVocabParallelEmbedding):
    def forward(self, input_: torch.Tensor) -> torch.Tensor:
        if self.tp_size == 1:
            check_indices(input_, self.num_embeddings, "input_")
        else:
            check_index_dtype(input_, "input_")
        s = self.shard_indices
        rows, not_mine = get_masked_input_and_mask(
            input_, s.org_vocab_start_index, s.org_vocab_end_index, s.num_org_vocab_padding,
            s.added_vocab_start_index, s.added_vocab_end_index)
        local = self.kernels.lookup(rows, self.weight)
        return self.collectives.all_reduce_sum(local.masked_fill(not_mine.unsqueeze(-1), 0))


class SilentZeroVocabBackend(DistributedBackend):
    name = "distributed_mutant_silent_zero"
    description = "distributed, but out-of-range ids become zero vectors above one rank"
    broken_rule = "S0.3 out-of-range ids raise IndexError at every world size"
    vocab_parallel_layer = _SilentZeroVocabLayer


class _LocalNormShardedLayer(DistributedShardedEmbedding):
    def _renorm_(self, rows: torch.Tensor) -> None:
        p = self.norm_type
        terms = self.kernels.norm_terms(self.weight, rows, p)  # no reduction across ranks
        norms = full_norms(terms, p).to(self.weight.dtype).to(torch.float64)
        exceeds = norms > self.max_norm
        factors = torch.full_like(norms[exceeds], self.max_norm).div_(norms[exceeds] + RENORM_EPS)
        self.kernels.scale_rows_(self.weight, rows[exceeds], factors)


class LocalNormShardedBackend(DistributedBackend):
    name = "distributed_mutant_local_norm"
    description = "distributed, but max_norm measures each rank's column shard only"
    broken_rule = "S4.4 max_norm uses the full-row norm, reduced across shards"
    sharded_layer = _LocalNormShardedLayer
