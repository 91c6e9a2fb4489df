"""The eager backend: vectorised PyTorch for every family that runs in one process."""

from embedspec.backends.eager.backend import EagerBackend
from embedspec.backends.eager.binary import EagerBinaryEmbedding, PackedBinary
from embedspec.backends.eager.embedding import EagerEmbedding
from embedspec.backends.eager.kernels import EagerKernels
from embedspec.backends.eager.sharded import EagerShardedEmbedding
from embedspec.backends.eager.stable import EagerStableEmbedding
from embedspec.backends.eager.vocab_parallel import EagerVocabParallelEmbedding

__all__ = [
    "EagerBackend",
    "EagerBinaryEmbedding",
    "EagerEmbedding",
    "EagerKernels",
    "EagerShardedEmbedding",
    "EagerStableEmbedding",
    "EagerVocabParallelEmbedding",
    "PackedBinary",
]
