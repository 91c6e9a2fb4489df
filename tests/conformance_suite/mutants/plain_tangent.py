"""Forward-mode AD looks the tangent up as is, like ``torch.embedding``'s (breaks S6.2: a
padding position's tangent is zero, a repeated id's is divided by its count)."""

from __future__ import annotations

import torch
from embedspec.backends.eager import kernels
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class PlainTangentBackend(MutantBackend):
    name = "mutant_plain_tangent"
    description = ("eager, but the gather is torch.embedding itself, whose forward-mode "
                   "derivative ignores padding_idx and scale_grad_by_freq")
    broken_rule = "S6.2 the tangent follows the backward's padding and frequency rules"
    families = ("embedding",)

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        options = layer.options

        def forward(input: torch.Tensor) -> torch.Tensor:
            ids = kernels.check_ids(input, layer.num_embeddings)
            if options.max_norm is not None:
                kernels.renorm_(layer.weight, ids, options.max_norm, options.norm_type)
            padding = -1 if options.padding_idx is None else options.padding_idx
            return torch.embedding(layer.weight, ids, padding, options.scale_grad_by_freq,
                                   options.sparse)

        layer.forward = forward
