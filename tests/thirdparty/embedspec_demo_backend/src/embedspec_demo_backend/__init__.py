"""A minimal embedspec backend: ``torch.nn.functional.embedding`` for the embedding family.

It declares only the ``forward`` and ``padding_idx`` features, so the conformance
suite reports every other feature as unsupported rather than failed.
"""

from __future__ import annotations

import importlib.metadata
import numbers

import torch
from embedspec.backends.contract import Availability, Backend, BuildContext, Capabilities
from embedspec.reference.configs import EmbeddingConfig, LayerConfig

__all__ = ["DemoBackend", "DemoEmbedding"]


class DemoEmbedding(torch.nn.Module):
    """A lookup table of ``num_embeddings`` rows; ``state_dict`` holds ``weight`` (V, D)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None,
                 dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
                raise ValueError(f"padding_idx must be an integer or None, got {padding_idx!r}")
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx must be within [-{num_embeddings}, "
                                 f"{num_embeddings - 1}], got {padding_idx}")
            padding_idx = padding_idx % num_embeddings
        self.num_embeddings = num_embeddings
        self.padding_idx = padding_idx
        self.weight = torch.nn.Parameter(
            torch.randn(num_embeddings, embedding_dim, dtype=dtype, device=device))
        if padding_idx is not None:
            with torch.no_grad():
                self.weight[padding_idx].zero_()

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not isinstance(input, torch.Tensor) or input.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"input must be an int32 or int64 tensor, got {input!r:.80}")
        if input.numel() and (int(input.min()) < 0 or int(input.max()) >= self.num_embeddings):
            raise IndexError(f"input holds ids outside [0, {self.num_embeddings})")
        return torch.nn.functional.embedding(input, self.weight, self.padding_idx)


class DemoBackend(Backend):
    name = "demo"
    description = "out-of-tree example: torch.nn.functional.embedding"

    @property
    def version(self) -> str:
        try:
            return importlib.metadata.version("embedspec-demo-backend")
        except importlib.metadata.PackageNotFoundError:
            return "source"

    def availability(self) -> Availability:
        return Availability.yes()

    def capabilities(self) -> Capabilities:
        return Capabilities.declare({
            "embedding": {"features": ["forward", "padding_idx"],
                          "dtypes": ["float32", "float64"], "devices": ["cpu"]},
        })

    def build(self, config: LayerConfig, context: BuildContext) -> torch.nn.Module:
        if not isinstance(config, EmbeddingConfig):
            raise NotImplementedError(f"the demo backend builds embedding layers only, "
                                      f"not {config.family}")
        return DemoEmbedding(config.num_embeddings, config.embedding_dim, config.padding_idx,
                             config.dtype, context.device)
