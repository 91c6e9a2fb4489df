"""The forward gather launches ``D // BLOCK_D`` column tiles instead of ``ceil(D /
BLOCK_D)``: when ``D`` is not a multiple of the tile width the last, partial column tile
is never gathered and those output columns stay zero (breaks S0.1, the gather)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

from embedspec.backends.triton import TritonBackend

from . import MUTANT_NAMESPACE


@functools.cache
def lookup_without_column_tail() -> Callable:
    from embedspec.backends.triton.kernels.gather import gather_into
    from embedspec.backends.triton.ops.grads import deterministic_grad
    from embedspec.backends.triton.ops.lookup import define_lookup

    def forward(ids, weight):
        out = weight.new_zeros((ids.shape[0], weight.shape[1]))
        return gather_into(out, ids, weight, column_tiles=lambda dim, block: dim // block)

    return define_lookup("lookup_without_column_tail", forward, deterministic_grad,
                         namespace=MUTANT_NAMESPACE)


class DroppedColumnTailBackend(TritonBackend):
    name = "mutant_triton_column_tail"
    description = "triton, but the forward drops the last partial column tile"
    broken_rule = "S0.1 the lookup gathers every column"

    def ops(self):
        return replace(super().ops(), lookup_op=lookup_without_column_tail())
