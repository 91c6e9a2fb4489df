"""Out-of-range ids are silently clamped into the table (breaks S0.3: IndexError)."""

from __future__ import annotations

import torch
from embedspec.reference.configs import LayerConfig
from embedspec.reference.validation import INDEX_DTYPES
from torch import nn

from .base import MutantBackend


class ClampedIdsBackend(MutantBackend):
    name = "mutant_clamped_ids"
    description = "eager, but ids outside [0, V) are clamped to the nearest row"
    broken_rule = "S0.3 out-of-range ids raise IndexError"
    families = ("embedding", "vocab_parallel", "sharded")

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        original = layer.forward

        def forward(input: torch.Tensor) -> torch.Tensor:
            if isinstance(input, torch.Tensor) and input.dtype in INDEX_DTYPES \
                    and layer.num_embeddings > 0:
                input = input.clamp(0, layer.num_embeddings - 1)
            return original(input)

        layer.forward = forward
