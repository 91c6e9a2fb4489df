"""A fresh sharded layer draws N(0, 1) whatever its ``init`` scheme (breaks S4: the
shards are a table drawn by the configured scheme)."""

from __future__ import annotations

import torch
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class ShardedInitSchemeBackend(MutantBackend):
    name = "mutant_sharded_init_scheme"
    description = "eager, but a sharded layer ignores its init scheme"
    broken_rule = "S4 init scheme honoured per shard"
    families = ("sharded",)

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        with torch.no_grad():
            layer.weight.normal_()
            if layer.padding_idx is not None:
                layer.weight[layer.padding_idx].zero_()
