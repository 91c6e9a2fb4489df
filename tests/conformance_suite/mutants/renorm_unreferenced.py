"""max_norm renormalises every row, not only the referenced ones (breaks S1.2)."""

from __future__ import annotations

import torch
from embedspec.backends.eager import kernels
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class RenormAllRowsBackend(MutantBackend):
    name = "mutant_renorm_unreferenced"
    description = "eager, but max_norm renormalises every row of the table"
    broken_rule = "S1.2 only referenced rows are renormalised"
    families = ("embedding", "sharded")

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        if config.max_norm is None:
            return
        original = layer.forward
        options = layer.options

        def forward(input: torch.Tensor) -> torch.Tensor:
            kernels.check_ids(input, layer.num_embeddings)  # still validate first (S0.4)
            every_row = torch.arange(layer.num_embeddings, device=layer.weight.device)
            kernels.renorm_(layer.weight, every_row, options.max_norm, options.norm_type)
            return original(input)

        layer.forward = forward
