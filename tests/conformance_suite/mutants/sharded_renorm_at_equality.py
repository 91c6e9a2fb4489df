"""A sharded layer renormalises rows whose full-row norm *equals* ``max_norm`` too
(``>=`` for ``>``; breaks S1.2/S4.4: the comparison is strict)."""

from __future__ import annotations

import torch
from embedspec.backends.eager import kernels
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class ShardedRenormAtEqualityBackend(MutantBackend):
    name = "mutant_sharded_renorm_at_equality"
    description = "eager, but a sharded renorm also scales rows whose norm equals max_norm"
    broken_rule = "S1.2 renorm only rows with norm > max_norm"
    families = ("sharded",)

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        if config.max_norm is None:
            return
        original = layer.forward

        def forward(input: torch.Tensor) -> torch.Tensor:
            ids = kernels.check_ids(input, layer.num_embeddings)
            if ids.numel():
                rows = kernels.unique_rows(ids)
                terms = kernels.norm_terms(layer.weight, rows, config.norm_type)
                norms = kernels.full_row_norms(terms, config.norm_type, layer.weight.dtype)
                equal = norms == config.max_norm
                factors = torch.full_like(norms[equal], config.max_norm) / (
                    norms[equal] + kernels.RENORM_EPS)
                kernels.scale_rows_(layer.weight, rows[equal], factors)
            return original(input)

        layer.forward = forward
