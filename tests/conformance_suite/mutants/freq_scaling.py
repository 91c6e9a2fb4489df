"""scale_grad_by_freq divides by the total number of ids instead of each id's count
(breaks S1.3)."""

from __future__ import annotations

import dataclasses

import torch
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class TotalCountScalingBackend(MutantBackend):
    name = "mutant_freq_total_count"
    description = "eager, but scale_grad_by_freq divides every gradient by input.numel()"
    broken_rule = "S1.3 contributions are divided by the count of their own id"
    families = ("embedding", "sharded")

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        if not config.scale_grad_by_freq:
            return
        layer.options = dataclasses.replace(layer.options, scale_grad_by_freq=False)
        original = layer.forward

        def forward(input: torch.Tensor) -> torch.Tensor:
            out = original(input)
            total = input.numel()
            if out.requires_grad and total > 1:
                out.register_hook(lambda grad: grad / total)
            return out

        layer.forward = forward
