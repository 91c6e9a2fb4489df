"""The padding row receives gradient (breaks S1.1: its gradient must be exactly zero)."""

from __future__ import annotations

import torch
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class PaddingGradBackend(MutantBackend):
    name = "mutant_padding_grad"
    description = "eager, but the padding row gets the gradient of its positions"
    broken_rule = "S1.1 padding row gradient is zero"
    families = ("embedding", "sharded")

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        if config.padding_idx is None or getattr(config, "sparse", False):
            return
        original = layer.forward

        def forward(input: torch.Tensor) -> torch.Tensor:
            out = original(input)
            row = layer.weight[layer.padding_idx]
            # (detached - live) is +0.0 in value with gradient -1: subtracting it leaves
            # every output value bitwise as it was and routes the padding positions'
            # output gradient into the padding row.
            leak = row.detach() - row
            hits = (input.to(out.device) == layer.padding_idx).unsqueeze(-1)
            return out - hits * leak

        layer.forward = forward
