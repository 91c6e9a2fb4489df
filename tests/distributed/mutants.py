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
from embedspec.backends.eager.kernels import full_row_norms, renorm_factors
from embedspec.backends.support import check_ids, check_index_dtype


class _SilentZeroVocabLayer(DistributedVocabParallelEmbedding):
    def forward(self, input_: torch.Tensor) -> torch.Tensor:
        if self.tp_size == 1:
            check_ids(input_, self.num_embeddings, "input_")
        else:
            check_index_dtype(input_, "input_")
        rows, not_mine = self.shard.masked_rows(input_)
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
        exceeds, factors = renorm_factors(full_row_norms(terms, p, self.weight.dtype),
                                          self.max_norm)
        self.kernels.scale_rows_(self.weight, rows[exceeds], factors)


class LocalNormShardedBackend(DistributedBackend):
    name = "distributed_mutant_local_norm"
    description = "distributed, but max_norm measures each rank's column shard only"
    broken_rule = "S4.4 max_norm uses the full-row norm, reduced across shards"
    sharded_layer = _LocalNormShardedLayer
