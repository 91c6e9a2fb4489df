"""The native operators as the layers call them, bundled so a layer can be handed variant
operators (the test suite's mutants) without changing its code; and the native
:class:`~embedspec.backends.kernels.EmbeddingKernels` lent to the distributed backend.

Only index dtypes are checked here (a static property, so it traces without a graph
break); every data-dependent check (ids in range, S0.3) runs inside the operators before
they write anything (S0.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from embedspec.backends.eager.embedding import LookupOptions
from embedspec.backends.support import check_index_dtype

from . import library
from .ops import NO_PADDING

#: ``rounding`` of ``renorm_``: the norm in the weight's dtype (S1.2) or from float64 terms
#: rounded to it (the sharded family, S4.4).
WEIGHT_DTYPE_NORM = 0
FLOAT64_TERMS = 1


@dataclass(frozen=True)
class NativeOps:
    """The operators a native layer calls (``torch.ops`` overloads)."""

    lookup: Any
    renorm_: Any
    stable_forward: Any
    binary_pack: Any
    binary_forward: Any
    binary_packed_lookup: Any
    vocab_lookup: Any
    norm_terms: Any
    scale_rows_: Any


def native_ops() -> NativeOps:
    """The ``torch.ops.embedspec`` operators (compiled and loaded on first use)."""
    library.load()
    ops = torch.ops.embedspec
    return NativeOps(ops.lookup.default, ops.renorm_.default, ops.stable_forward.default,
                     ops.binary_pack.default, ops.binary_forward.default,
                     ops.binary_packed_lookup.default, ops.vocab_lookup.default,
                     ops.norm_terms.default, ops.scale_rows_.default)


def padding_arg(padding_idx: int | None) -> int:
    """An operator's ``padding_idx`` argument."""
    return NO_PADDING if padding_idx is None else padding_idx


def checked_ids(input: object, weight: torch.Tensor, name: str = "input") -> torch.Tensor:
    """``input`` on the weight's device, once its dtype is int32/int64 (TypeError, S0.2)."""
    ids = check_index_dtype(input, name)
    return ids if ids.device == weight.device else ids.to(weight.device)


def renorm_(ops: NativeOps, weight: torch.Tensor, ids: torch.Tensor,
            options: LookupOptions, rounding: int = WEIGHT_DTYPE_NORM) -> None:
    """The ``max_norm`` renormalisation of the rows ``ids`` references, if the options ask
    for one (S1.2); the operator checks every id before it changes a row."""
    if options.max_norm is not None:
        with torch.no_grad():
            ops.renorm_(weight, ids, options.max_norm, options.norm_type, rounding)


def embed(ops: NativeOps, input: object, weight: torch.Tensor, options: LookupOptions, *,
          rounding: int = WEIGHT_DTYPE_NORM) -> torch.Tensor:
    """The section-1 forward: check, renormalise (S1.2), gather with the spec's backward."""
    ids = checked_ids(input, weight)
    renorm_(ops, weight, ids, options, rounding)
    return ops.lookup(weight, ids, padding_arg(options.padding_idx), options.scale_grad_by_freq,
                      options.sparse)


class NativeKernels:
    """The native backend's :class:`~embedspec.backends.kernels.EmbeddingKernels`."""

    def __init__(self, ops: NativeOps | None = None) -> None:
        self.ops = ops or native_ops()

    def lookup(self, input: torch.Tensor, weight: torch.Tensor, *, padding_idx: int | None = None,
               scale_grad_by_freq: bool = False, sparse: bool = False) -> torch.Tensor:
        return self.ops.lookup(weight, input, padding_arg(padding_idx), scale_grad_by_freq,
                               sparse)

    def norm_terms(self, weight: torch.Tensor, rows: torch.Tensor,
                   norm_type: float) -> torch.Tensor:
        return self.ops.norm_terms(weight.detach(), rows.to(weight.device), float(norm_type))

    def scale_rows_(self, weight: torch.Tensor, rows: torch.Tensor,
                    factors: torch.Tensor) -> None:
        with torch.no_grad():
            self.ops.scale_rows_(weight, rows.to(weight.device), factors.to(weight.device))

    def __repr__(self) -> str:
        return "NativeKernels()"
