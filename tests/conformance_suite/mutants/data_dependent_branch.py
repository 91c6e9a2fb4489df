"""The forward checks its ids with a Python branch on their values (breaks S6.5: a layer
traces whole under ``torch.compile(fullgraph=True)``)."""

from __future__ import annotations

import torch
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class DataDependentBranchBackend(MutantBackend):
    name = "mutant_data_dependent_branch"
    description = "eager, but the forward re-checks its ids with a Python branch on their values"
    broken_rule = "S6.5 no Python branch on tensor values: the layer compiles with fullgraph=True"
    families = ("embedding",)

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        original = layer.forward

        def forward(input: torch.Tensor) -> torch.Tensor:
            # Eagerly this changes nothing (the ids were valid or the original raises);
            # under torch.compile the branch needs the ids' values: a graph break.
            if isinstance(input, torch.Tensor) and input.numel() and bool((input < 0).any()):
                raise IndexError("negative ids")
            return original(input)

        layer.forward = forward
