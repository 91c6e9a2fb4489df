"""A stable layer built with ``sparse=True`` gives a dense table gradient (breaks S2: the
lookup options, ``sparse`` included, reach the lookup)."""

from __future__ import annotations

import dataclasses

from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class StableDenseGradientBackend(MutantBackend):
    name = "mutant_stable_dense_gradient"
    description = "eager, but a stable layer ignores sparse=True"
    broken_rule = "S2 sparse passes through to the lookup"
    families = ("stable",)

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        if config.sparse:
            layer.options = dataclasses.replace(layer.options, sparse=False)
