"""``reset_parameters()`` draws N(0, 1) whatever the layer's scheme, as
``torch.nn.Embedding`` does (breaks S1.7: a reset re-draws by the layer's own scheme)."""

from __future__ import annotations

import torch
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class ResetNormalBackend(MutantBackend):
    name = "mutant_reset_normal"
    description = "eager, but reset_parameters() always draws N(0, 1)"
    broken_rule = "S1.7 reset_parameters re-draws by the layer's scheme"
    families = ("embedding",)

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        def reset_parameters() -> None:
            with torch.no_grad():
                layer.weight.normal_()
                if layer.padding_idx is not None:
                    layer.weight[layer.padding_idx].zero_()

        layer.reset_parameters = reset_parameters
