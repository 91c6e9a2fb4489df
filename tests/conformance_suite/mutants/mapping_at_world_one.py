"""``get_sharded_to_full_mapping()`` returns the identity at world size 1, where the spec
(as upstream) says None (breaks S3.7)."""

from __future__ import annotations

from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class MappingAtWorldOneBackend(MutantBackend):
    name = "mutant_mapping_at_world_one"
    description = "eager, but the sharded-to-full mapping of one rank is the identity"
    broken_rule = "S3.7 no mapping below two ranks"
    families = ("vocab_parallel",)

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        rows = layer.weight.shape[0]
        layer.get_sharded_to_full_mapping = lambda: list(range(rows))
