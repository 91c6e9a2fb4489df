"""A Python list of ids is looked up as if it were a tensor (breaks S0.2: indices that are
not an int32/int64 tensor raise TypeError)."""

from __future__ import annotations

import torch
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class ListIdsBackend(MutantBackend):
    name = "mutant_list_ids"
    description = "eager, but a list of ids is converted to a tensor"
    broken_rule = "S0.2 indices are tensors"
    families = ("embedding", "stable", "binary")

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        original = layer.forward

        def forward(input: object) -> torch.Tensor:
            return original(torch.tensor(input) if isinstance(input, list) else input)

        layer.forward = forward
