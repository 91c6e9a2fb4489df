"""Vectorised per-rank embedding kernels built on torch operators.

These are the computational pieces every eager layer is made of, and the
:class:`~embedspec.backends.kernels.EmbeddingKernels` that the eager backend lends to
composite (distributed) backends. Every function works on any ``(V, D)`` table, a
column shard ``(V, D_r)`` of a larger table included, on any device; none of them
loops over rows in Python. The gather with its derivatives is :mod:`.lookup`'s, and the
renormalisation runs as an operator under program transforms (:func:`renorm_`).

None of them validates: the layers validate everything with
:mod:`embedspec.backends.support` before calling them (S0.4), as the kernel protocol
says. :func:`check_ids` is re-exported here for the layers and mutants that use it.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from embedspec.backends.support import check_ids as check_ids
from embedspec.backends.support import under_transform

from .lookup import lookup as lookup

#: The per-row renormalisation divides by ``norm + RENORM_EPS`` (S1.2, as PyTorch).
RENORM_EPS = 1e-7


def unique_rows(input: torch.Tensor) -> torch.Tensor:
    """The distinct ids of ``input`` (any shape), sorted, as int64."""
    return torch.unique(input.reshape(-1)).long()


def row_norms(weight: torch.Tensor, rows: torch.Tensor, norm_type: float) -> torch.Tensor:
    """The p-norm of each listed row (absolute values, S1.2), computed in ``weight``'s dtype
    and returned as float64, exactly as ``torch.Tensor.norm`` computes it for one row."""
    selected = weight.index_select(0, rows)
    if selected.shape[1] == 0:
        return torch.zeros(rows.shape[0], dtype=torch.float64, device=weight.device)
    return torch.linalg.vector_norm(selected, ord=norm_type, dim=1).double()


def renorm_factors(norms: torch.Tensor, max_norm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """For float64 row norms: the mask of rows to renormalise (``norm > max_norm``) and
    their factors ``max_norm / (norm + 1e-7)`` in float64 (S1.2)."""
    exceeds = norms > max_norm
    # A true division: ``scalar / tensor`` would multiply by a rounded reciprocal.
    factors = torch.full_like(norms, max_norm).div_(norms + RENORM_EPS)
    return exceeds, factors[exceeds]


def scale_rows_(weight: torch.Tensor, rows: torch.Tensor, factors: torch.Tensor) -> None:
    """Multiply each listed row of ``weight`` in place by its factor cast to the weight's
    dtype, outside autograd. ``rows`` holds no duplicates."""
    if rows.numel() == 0:
        return
    rows = rows.to(device=weight.device, dtype=torch.int64)
    with torch.no_grad():
        scaled = weight.index_select(0, rows)
        scaled.mul_(factors.to(device=weight.device, dtype=weight.dtype).unsqueeze(1))
        weight.index_copy_(0, rows, scaled)


def renorm_(weight: torch.Tensor, input: torch.Tensor, max_norm: float,
            norm_type: float) -> None:
    """Renormalise in place every row referenced by ``input`` whose p-norm exceeds
    ``max_norm`` (S1.2): each such row, once however often it is referenced, is
    multiplied by ``max_norm / (norm + 1e-7)``. Invisible to autograd, forward-mode AD
    included: it writes a detached alias of the table.

    The norm is computed in the weight's dtype and the factor in float64, then cast to
    the weight's dtype: bit-identical to ``torch.embedding_renorm_`` on CPU, but
    vectorised over rows and with absolute values for every ``norm_type`` on every device.
    Under a program transform (:func:`~embedspec.backends.support.under_transform`) it
    is the operator :data:`renorm_operator`: one opaque node of a compiled or exported
    graph, and a ``RuntimeError`` under ``vmap``, before anything changes (the table is
    shared by the whole batch).
    """
    table = weight.detach()
    if under_transform(table, input):
        renorm_operator(table, input, max_norm, norm_type)
    else:
        renorm_rows_(table, input, max_norm, norm_type)


def renorm_rows_(weight: torch.Tensor, input: torch.Tensor, max_norm: float,
                 norm_type: float) -> None:
    """The computation of :func:`renorm_` on a table outside autograd."""
    if input.numel() == 0:
        return
    rows = unique_rows(input)
    exceeds, factors = renorm_factors(row_norms(weight, rows, norm_type), max_norm)
    scale_rows_(weight, rows[exceeds], factors)


@torch.library.custom_op("embedspec_eager::renorm_", mutates_args=("weight",))
def _renorm_op(weight: torch.Tensor, ids: torch.Tensor, max_norm: float,
               norm_type: float) -> None:
    renorm_rows_(weight, ids, max_norm, norm_type)


@_renorm_op.register_fake
def _renorm_fake(weight: torch.Tensor, ids: torch.Tensor, max_norm: float,
                 norm_type: float) -> None:
    return None


def _renorm_vmap(info: object, in_dims: tuple, weight: torch.Tensor, ids: torch.Tensor,
                 max_norm: float, norm_type: float) -> tuple[None, None]:
    raise RuntimeError("a layer with max_norm cannot run under vmap: its renormalisation "
                       "writes the table every sample of the batch reads; call it on the "
                       "whole batch instead")


_renorm_op.register_vmap(_renorm_vmap)
#: :func:`renorm_rows_` as an operator (called directly: a custom op's Python wrapper is
#: slow).
renorm_operator = torch.ops.embedspec_eager.renorm_.default


def norm_terms(weight: torch.Tensor, rows: torch.Tensor, norm_type: float) -> torch.Tensor:
    """Per listed row, its partial p-norm over ``weight``'s columns in float64:
    ``sum |w|^p`` for finite p, ``max |w|`` (0 for no columns) for p = inf."""
    rows = rows.to(device=weight.device, dtype=torch.int64)
    with torch.no_grad():
        magnitudes = weight.index_select(0, rows).double().abs_()
        if magnitudes.shape[1] == 0:
            return torch.zeros(rows.shape[0], dtype=torch.float64, device=weight.device)
        if math.isinf(norm_type):
            return magnitudes.amax(dim=1)
        if norm_type == 1.0:
            return magnitudes.sum(dim=1)
        if norm_type == 2.0:
            return magnitudes.square_().sum(dim=1)
        return magnitudes.pow_(norm_type).sum(dim=1)


def norm_reduce_op(norm_type: float) -> Literal["sum", "max"]:
    """How the :func:`norm_terms` of column shards combine across ranks (S4.4): ``"max"``
    for p = inf, else ``"sum"``."""
    return "max" if math.isinf(norm_type) else "sum"


def full_row_norms(terms: torch.Tensor, norm_type: float, dtype: torch.dtype) -> torch.Tensor:
    """Full-row norms from the (combined) :func:`norm_terms` of every column shard:
    ``terms ^ (1/p)`` (``terms`` itself for p = inf), rounded to the weight's ``dtype``
    as an unsharded norm is (S4.4), returned as float64."""
    norms = terms if math.isinf(norm_type) else terms.pow(1.0 / norm_type)
    return norms.to(dtype).to(torch.float64)


def shard_renorm_(weight: torch.Tensor, input: torch.Tensor, max_norm: float,
                  norm_type: float) -> None:
    """The ``max_norm`` renormalisation of a table held whole by one rank, through the
    column-shard kernels (S4.4 at world size 1): float64 norm terms, full-row norms,
    factors ``max_norm / (norm + 1e-7)`` cast to the weight's dtype."""
    if input.numel() == 0:
        return
    rows = unique_rows(input).to(weight.device)
    norms = full_row_norms(norm_terms(weight, rows, norm_type), norm_type, weight.dtype)
    exceeds, factors = renorm_factors(norms, max_norm)
    scale_rows_(weight, rows[exceeds], factors)


class EagerKernels:
    """The eager backend's :class:`~embedspec.backends.kernels.EmbeddingKernels`."""

    def lookup(self, input: torch.Tensor, weight: torch.Tensor, *, padding_idx: int | None = None,
               scale_grad_by_freq: bool = False, sparse: bool = False) -> torch.Tensor:
        return lookup(input, weight, padding_idx=padding_idx,
                      scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)

    def norm_terms(self, weight: torch.Tensor, rows: torch.Tensor,
                   norm_type: float) -> torch.Tensor:
        return norm_terms(weight, rows, norm_type)

    def scale_rows_(self, weight: torch.Tensor, rows: torch.Tensor,
                    factors: torch.Tensor) -> None:
        scale_rows_(weight, rows, factors)

    def __repr__(self) -> str:
        return "EagerKernels()"
