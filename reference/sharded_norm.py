"""The cross-shard ``max_norm`` renormalisation of the sharded family (spec S4.4).

A row of the table is split over the column shards, so its p-norm is a reduction
across ranks. Each rank computes one *norm term* per referenced row from its own
columns, in float64, on absolute values:

* finite p: ``sum |w|^p`` over the rank's columns (0 for a rank with no column);
* p = inf: ``max |w|`` over the rank's columns (0 for a rank with no column).

Terms combine across ranks by sum (finite p) or max (p = inf), in rank order, outside
autograd (``all_reduce_no_grad``); the full-row norm is ``combined ^ (1/p)`` (finite
p) or ``combined`` (inf), rounded to the weight's dtype (the unsharded reference, S1.2,
computes a row's norm as a value of the weight's dtype); call it ``n``. A row with ``n``
strictly greater than ``max_norm`` (a NaN norm never is) is multiplied, on every shard,
by ``max_norm / (n + 1e-7)``: the factor is computed in float64 and rounded to the
weight's dtype, each product is rounded to the weight's dtype, in place and outside
autograd, exactly as the unsharded reference does. Only the distinct rows referenced
by the input are considered, each once. A norm measured on one shard's columns alone
is not the row's norm; the spec forbids it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

from .embedding_functional import RENORM_EPS


def referenced_rows(input: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The distinct ids of ``input`` (any shape), sorted, as int64 on ``device``."""
    return torch.unique(input.detach().reshape(-1).to(device=device, dtype=torch.int64))


def reduce_op(norm_type: float) -> Literal["sum", "max"]:
    """How norm terms combine across ranks: ``"max"`` for p = inf, else ``"sum"``."""
    return "max" if math.isinf(norm_type) else "sum"


def norm_terms(weight: torch.Tensor, rows: torch.Tensor, norm_type: float) -> torch.Tensor:
    """This shard's float64 norm term of each listed row (see the module docstring)."""
    values = weight.detach()[rows].to(torch.float64).abs()
    if values.shape[1] == 0:
        return values.new_zeros(values.shape[0])
    if math.isinf(norm_type):
        return values.amax(dim=1)
    return values.pow(norm_type).sum(dim=1)


def combine_norm_terms(terms: Sequence[torch.Tensor], norm_type: float) -> torch.Tensor:
    """Every rank's terms reduced in rank order: sum (finite p) or max (p = inf)."""
    if not terms:
        raise ValueError("terms must hold one tensor per rank, got none")
    combined = terms[0]
    for t in terms[1:]:
        combined = torch.maximum(combined, t) if math.isinf(norm_type) else combined + t
    return combined


def full_norms(combined: torch.Tensor, norm_type: float) -> torch.Tensor:
    """Full-row norms from combined terms: ``combined ^ (1/p)``, or ``combined`` for inf."""
    return combined if math.isinf(norm_type) else combined.pow(1.0 / norm_type)


def renorm_shard_(weight: torch.Tensor, rows: torch.Tensor, norms: torch.Tensor,
                  max_norm: float) -> None:
    """Scale in place the listed rows of this shard whose full norm exceeds ``max_norm``.

    ``norms`` are the float64 full-row norms of ``rows`` (no duplicates). As in the
    unsharded reference (S1.2), whose norm is a value of the weight's dtype, each norm
    is first rounded to the weight's dtype; a row is scaled if that norm ``n`` is
    strictly greater than ``max_norm``, by ``max_norm / (n + 1e-7)`` computed in float64
    and rounded to the weight's dtype, each product rounded to the weight's dtype, under
    ``torch.no_grad`` (invisible to autograd).
    """
    norms = norms.to(weight.dtype).to(torch.float64)
    exceeds = norms > max_norm
    if not bool(exceeds.any()):
        return
    # A tensor numerator keeps the division correctly rounded (scalar / tensor is not).
    factors = (torch.full_like(norms[exceeds], max_norm) / (norms[exceeds] + RENORM_EPS))
    factors = factors.to(weight.dtype)
    picked = rows[exceeds]
    with torch.no_grad():
        weight[picked] = weight[picked] * factors.unsqueeze(1)
