"""Binary packing puts element ``8j + i`` of a row in bit ``7 - i`` of byte ``j``
(most-significant bit first; breaks S5: the layout is LSB-first)."""

from __future__ import annotations

import torch
from embedspec.reference.configs import LayerConfig
from torch import nn

from .base import MutantBackend

#: Byte value -> the same byte with its bit order reversed.
REVERSED_BITS = torch.tensor([int(f"{b:08b}"[::-1], 2) for b in range(256)], dtype=torch.uint8)


def reverse_bits(qweight: torch.Tensor) -> torch.Tensor:
    """Every byte of a uint8 tensor with its bit order reversed."""
    return REVERSED_BITS.to(qweight.device)[qweight.long()]


class MsbFirstPackingBackend(MutantBackend):
    name = "mutant_msb_first_packing"
    description = "eager, but packed() stores bits most-significant first"
    broken_rule = "S5 packed layout is LSB-first along the embedding dim"
    families = ("binary",)

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        original = layer.packed

        def packed():
            table = original()
            return type(table)(reverse_bits(table.qweight), table.scale)

        layer.packed = packed
