"""At world size 1, added (LoRA) ids read the local row equal to the id, as upstream
does, instead of being remapped past the base padding (breaks S3: the id-to-row
mapping is the same at every world size)."""

from __future__ import annotations

import torch
from embedspec.backends.eager import kernels
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class UnmappedAddedIdsBackend(MutantBackend):
    name = "mutant_unmapped_added_ids"
    description = "eager, but vocab-parallel added ids are not remapped at world size 1"
    broken_rule = "S3 added ids map to the added rows at every world size"
    families = ("vocab_parallel",)

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        def forward(input_: torch.Tensor) -> torch.Tensor:
            ids = kernels.check_ids(input_, layer.num_embeddings, "input_")
            return kernels.lookup(ids.to(layer.weight.device), layer.weight)

        layer.forward = forward
