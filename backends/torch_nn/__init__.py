"""The ``torch_nn`` backend: plain ``torch.nn.Embedding`` measured against the spec."""

from embedspec.backends.torch_nn.backend import (
    BitsandbytesStableEmbedding,
    TorchNNBackend,
    build_embedding,
    build_stable,
)
from embedspec.backends.torch_nn.divergences import DIVERGENCES, Divergence

__all__ = [
    "DIVERGENCES",
    "BitsandbytesStableEmbedding",
    "Divergence",
    "TorchNNBackend",
    "build_embedding",
    "build_stable",
]
