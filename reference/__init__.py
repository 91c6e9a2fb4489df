"""embedspec.reference: the executable specification of embedding layers."""

from .binary import (
    BinaryEmbedding,
    PackedBinary,
    binary_embedding,
    binary_embedding_packed,
    pack,
    unpack,
)
from .collectives import Collectives, LocalCollectives
from .embedding import Embedding, embedding, init_scaled_embedding, lookup, renorm_
from .init import INIT_SCHEMES, init_weight_
from .sharded import DistributedEmbedding, ShardedEmbedding, column_range, partition_sizes
from .stable import StableEmbedding, stable_embedding
from .vocab_parallel import VocabParallelEmbedding
from .vocab_parallel_sizes import (
    DEFAULT_VOCAB_PADDING_SIZE,
    VocabParallelEmbeddingShardIndices,
    get_masked_input_and_mask,
    pad_vocab_size,
    vocab_range_from_global_vocab_size,
    vocab_range_from_per_partition_vocab_size,
)

__all__ = [
    "DEFAULT_VOCAB_PADDING_SIZE",
    "INIT_SCHEMES",
    "BinaryEmbedding",
    "Collectives",
    "DistributedEmbedding",
    "Embedding",
    "LocalCollectives",
    "PackedBinary",
    "ShardedEmbedding",
    "StableEmbedding",
    "VocabParallelEmbedding",
    "VocabParallelEmbeddingShardIndices",
    "binary_embedding",
    "binary_embedding_packed",
    "column_range",
    "embedding",
    "get_masked_input_and_mask",
    "init_scaled_embedding",
    "init_weight_",
    "lookup",
    "pack",
    "pad_vocab_size",
    "partition_sizes",
    "renorm_",
    "stable_embedding",
    "unpack",
    "vocab_range_from_global_vocab_size",
    "vocab_range_from_per_partition_vocab_size",
]
