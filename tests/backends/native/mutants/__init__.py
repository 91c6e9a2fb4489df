"""Deliberately wrong native backends: the native backend with one operator swapped for a
variant compiled from ``csrc/mutants.cpp`` (the real kernels under a wrong policy).

Each is run through the conformance suite by ``test_native_mutants_caught.py``, which
checks that the quick profile catches it in the feature whose rule it breaks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import torch
from embedspec.backends.contract import BuildContext
from embedspec.backends.native import NativeBackend
from embedspec.backends.native.build import load_library
from embedspec.backends.native.library import CSRC
from embedspec.backends.native.ops import register_lookup, register_renorm
from embedspec.reference.configs import LayerConfig
from torch import nn

SOURCE = Path(__file__).with_name("csrc") / "mutants.cpp"
_registered: list[bool] = []


def load_mutant_ops() -> None:
    """Compile (once, cached) and register the variant operators."""
    if _registered:
        return
    NativeBackend().availability()  # the real operators first: the variants share formulas
    load_library("embedspec_native_mutants", [SOURCE], include_dirs=[CSRC])
    register_lookup("embedspec_mutants::lookup_off_by_one")
    register_lookup("embedspec_mutants::lookup_ignoring_strides")
    register_renorm("embedspec_mutants::renorm_bfloat16_factor_")
    _registered.append(True)


class NativeMutantBackend(NativeBackend):
    """The native backend whose layers of ``families`` call ``variant`` as ``op``."""

    broken_rule: ClassVar[str] = ""
    op: ClassVar[str] = ""
    variant: ClassVar[str] = ""
    families: ClassVar[tuple[str, ...]] = ("embedding", "sharded")

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        layer = super().build(config, context)
        if config.family in self.families:
            load_mutant_ops()
            variant = getattr(torch.ops.embedspec_mutants, self.variant).default
            layer.ops = dataclasses.replace(layer.ops, **{self.op: variant})
        return layer


class OffByOneBoundsBackend(NativeMutantBackend):
    name = "mutant_native_off_by_one"
    description = "native, but the lookup's bounds check lets the id V through"
    broken_rule = "S0.3 out-of-range ids raise IndexError"
    op, variant = "lookup", "lookup_off_by_one"


class IgnoredStridesBackend(NativeMutantBackend):
    name = "mutant_native_ignored_strides"
    description = "native, but the lookup reads non-contiguous ids as if contiguous"
    broken_rule = "S0.1 an index tensor of any strides gives its rows in order"
    op, variant = "lookup", "lookup_ignoring_strides"


class Bfloat16FactorBackend(NativeMutantBackend):
    name = "mutant_native_bfloat16_factor"
    description = "native, but the renorm factor is rounded to bfloat16"
    broken_rule = "S1.2 the factor is rounded to the weight's dtype"
    op, variant = "renorm_", "renorm_bfloat16_factor_"
