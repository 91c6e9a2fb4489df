"""A fresh vocab-parallel shard's padding rows hold a constant instead of zeros (breaks
S3.8: every vocab padding row is zero at initialisation)."""

from __future__ import annotations

import torch
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class VocabPaddingInitBackend(MutantBackend):
    name = "mutant_vocab_padding_init"
    description = "eager, but vocab padding rows are 0.5 at init"
    broken_rule = "S3.8 vocab padding rows zero at init"
    families = ("vocab_parallel",)

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        with torch.no_grad():
            padding = (layer.weight == 0).all(dim=1)  # N(0, 1) rows are never all zero
            layer.weight[padding] = 0.5
