"""The padding row comes back with its zeros positive: a stored ``-0.0`` is returned as
``+0.0`` (breaks S0.7 rule 1 and S1.1: the stored row is returned bitwise)."""

from __future__ import annotations

import torch
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class PositiveZeroPaddingBackend(MutantBackend):
    name = "mutant_positive_zero_padding"
    description = "eager, but the padding row's -0.0 entries come back as +0.0"
    broken_rule = "S1.1 the padding row is returned as stored"
    families = ("embedding",)

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        if config.padding_idx is None:
            return
        original = layer.forward

        def forward(input: torch.Tensor) -> torch.Tensor:
            out = original(input)
            hits = (input.to(out.device) == layer.padding_idx).unsqueeze(-1)
            return torch.where(hits, out + 0.0, out)  # -0.0 + 0.0 is +0.0

        layer.forward = forward
