"""A bool ``padding_idx`` is taken as row 0 or 1, as PyTorch does (breaks S1.1: a
padding_idx that is not an integer is a ValueError)."""

from __future__ import annotations

from embedspec.backends.contract import BuildContext
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend


class AcceptsBoolPaddingBackend(MutantBackend):
    name = "mutant_accepts_bool_padding"
    description = "eager, but padding_idx=True builds a layer padding row 1"
    broken_rule = "S1.1 padding_idx is an integer"

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        if isinstance(getattr(config, "padding_idx", None), bool):
            config = config.replace(padding_idx=int(config.padding_idx))
        return super().build(config, context)
