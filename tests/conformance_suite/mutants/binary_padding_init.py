"""A fresh binary layer's padding row is drawn like the others, not zeroed (breaks S5:
the padding row is zero at initialisation, so it packs to scale 0)."""

from __future__ import annotations

import torch
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class BinaryPaddingInitBackend(MutantBackend):
    name = "mutant_binary_padding_init"
    description = "eager, but a binary layer's padding row is not zeroed at init"
    broken_rule = "S5 padding row zero at init"
    families = ("binary",)

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        if layer.padding_idx is not None:
            with torch.no_grad():
                layer.weight[layer.padding_idx].normal_()
