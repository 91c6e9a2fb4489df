"""The deterministic backward launches its segment programs only up to the head of the
sorted ids' last segment, so that segment is never summed and the gradient of the
largest referenced id stays zero (breaks S1.3)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

from embedspec.backends.triton import TritonDeterministicBackend

from . import MUTANT_NAMESPACE


@functools.cache
def lookup_without_last_segment() -> Callable:
    from embedspec.backends.triton.kernels.backward_deterministic import (
        Segments,
        dense_grad_deterministic,
    )
    from embedspec.backends.triton.kernels.gather import gather_rows
    from embedspec.backends.triton.ops.grads import define_dense_grad
    from embedspec.backends.triton.ops.lookup import define_lookup

    def before_last_segment(found: Segments) -> int:
        return int(found.starts[-1])

    grad = define_dense_grad(
        "dense_grad_without_last_segment",
        functools.partial(dense_grad_deterministic, programs=before_last_segment),
        namespace=MUTANT_NAMESPACE)
    return define_lookup("lookup_without_last_segment", gather_rows, grad,
                         namespace=MUTANT_NAMESPACE)


class DroppedLastSegmentBackend(TritonDeterministicBackend):
    name = "mutant_triton_last_segment"
    description = "triton-deterministic, but the backward drops the last segment"
    broken_rule = "S1.3 every referenced row receives its gradient"

    def ops(self):
        return replace(super().ops(), lookup_op=lookup_without_last_segment())
