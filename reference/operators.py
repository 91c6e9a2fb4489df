"""The two data-dependent steps of the reference as ``torch.library`` operators.

The id range check (S0.3) reads the ids' values and the ``max_norm`` renormalisation
(S1.2) loops over the distinct referenced rows: Python control flow on tensor values,
which ``torch.compile(fullgraph=True)`` and ``torch.export`` cannot trace and ``vmap``
cannot batch. As operators they are single opaque nodes of a traced graph that run
these eager statements when the graph runs, so a compiled or exported reference layer
raises the spec's ``IndexError`` and renormalises exactly as the eager one does
(composability, ``docs/spec/composability.md``):

* ``embedspec_reference::check_ids(ids, num_valid, name)``: raises ``IndexError`` unless
  every id lies in ``[0, num_valid)``; returns nothing. It is registered as having a
  side effect, so no graph pass removes it although nothing reads its (absent) output.
  Under ``vmap`` it checks the whole batch.
* ``embedspec_reference::renorm_(weight, ids, max_norm, norm_type)``: the in-place
  renormalisation of :func:`~embedspec.reference.embedding_functional.renorm_` on
  validated arguments. Callers pass a detached alias of the table (outside autograd,
  forward-mode AD included). Under ``vmap`` (a batch of index tensors or of tables) it
  raises ``RuntimeError`` before anything changes: the renorm is a mutation of state
  shared by the whole batch, which a vmapped function may not make.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.fx.node import has_side_effect

#: The namespace of the reference's operators.
NAMESPACE = "embedspec_reference"

RENORM_EPS = 1e-7
"""Added to the norm in the renormalisation factor ``max_norm / (norm + RENORM_EPS)`` (S1.2)."""

VMAP_RENORM_MESSAGE = (
    "max_norm renormalises the stored table in place, which a function vmapped over a "
    "batch of index tensors or tables may not do (docs/spec/composability.md): call the "
    "layer on the whole batch at once, or build it without max_norm"
)


@torch.library.custom_op(f"{NAMESPACE}::check_ids", mutates_args=())
def _check_ids(ids: torch.Tensor, num_valid: int, name: str) -> None:
    """``IndexError`` naming the offending extreme unless every id of ``ids`` (an int32 or
    int64 tensor of any shape) lies in ``[0, num_valid)``; an empty tensor is valid."""
    if ids.numel() == 0:
        return
    lo = int(ids.min())
    hi = int(ids.max())
    if lo < 0 or hi >= num_valid:
        bad = lo if lo < 0 else hi
        raise IndexError(f"{name} holds id {bad}, outside the valid range [0, {num_valid})")


@_check_ids.register_fake
def _check_ids_fake(ids: torch.Tensor, num_valid: int, name: str) -> None:
    return None


def _check_ids_vmap(info: Any, in_dims: tuple, ids: torch.Tensor, num_valid: int,
                    name: str) -> tuple[None, None]:
    check_ids(ids, num_valid, name)
    return None, None


_check_ids.register_vmap(_check_ids_vmap)
#: The operator itself (called directly: the Python wrapper of a custom op costs far more).
check_ids = torch.ops.embedspec_reference.check_ids.default
has_side_effect(check_ids)


@torch.library.custom_op(f"{NAMESPACE}::renorm_", mutates_args=("weight",))
def _renorm(weight: torch.Tensor, ids: torch.Tensor, max_norm: float, norm_type: float) -> None:
    """Renormalise in place the rows of ``weight`` that ``ids`` references (S1.2), once per
    distinct id: a row whose ``norm_type``-norm ``n`` (of its absolute values, in the
    weight's dtype) is strictly greater than ``max_norm`` is multiplied by ``max_norm /
    (n + 1e-7)``, computed in float64 and rounded to the weight's dtype. Arguments are
    already validated; ``weight`` is outside autograd."""
    if ids.numel() == 0:
        return
    rows = torch.unique(ids.reshape(-1).to(device="cpu", dtype=torch.int64))
    for k in rows.tolist():
        row = weight[k]
        norm = row.norm(norm_type).item()
        if norm > max_norm:
            factor = torch.tensor(max_norm / (norm + RENORM_EPS), dtype=weight.dtype,
                                  device=weight.device)
            row.mul_(factor)


@_renorm.register_fake
def _renorm_fake(weight: torch.Tensor, ids: torch.Tensor, max_norm: float,
                 norm_type: float) -> None:
    return None


def _renorm_vmap(info: Any, in_dims: tuple, weight: torch.Tensor, ids: torch.Tensor,
                 max_norm: float, norm_type: float) -> tuple[None, None]:
    raise RuntimeError(VMAP_RENORM_MESSAGE)


_renorm.register_vmap(_renorm_vmap)
renorm_ = torch.ops.embedspec_reference.renorm_.default
