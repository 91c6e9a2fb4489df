"""What a forward under a program transform must observe (``docs/spec/composability.md``),
for the single-process families: the same rules as the untransformed forward, plus the
derivatives the transform computes.

* ``compile``: exactly the expectation of the eager forward (and backward): a compiled
  layer equals the eager one, a gather bitwise, accumulations within their bounds, the
  ``max_norm`` renorm within its allowance, errors of the same class with the state
  unchanged.
* ``export``: the eager forward's expectation without a backward, for the exported
  program's output and state.
* ``forward_ad``: the eager forward's expectation (primal output and state, renorm
  included), plus the output's tangent: the reference's, within the family's bound
  (:func:`tangent_bound`).
* ``vmap``: the per-sample expectations stacked: sample ``b`` is the forward of row
  ``b`` of the indices with row ``b`` of the output gradient. With ``max_norm`` the
  reference raises ``RuntimeError`` and leaves the table as loaded; so must the backend.
* ``double_backward``: the eager forward and backward's expectation, plus the second
  derivatives: with respect to the output gradient, the reference's (the tangent of the
  lookup in the direction, within the tangent bound); with respect to every parameter,
  the reference's (exact zeros for the lookup families).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from embedspec.conformance.checks import tolerance
from embedspec.conformance.checks.case import Case
from embedspec.conformance.checks.expected.common import error_class, reference_outcome
from embedspec.conformance.checks.expected.model import Expected
from embedspec.reference import pack
from embedspec.reference.embedding_functional import contributions
from embedspec.reference.stable import LAYER_NORM_EPS
from embedspec.reference.validation import normalize_padding_idx

Plain = Callable[[Case], list[Expected]]


def untransformed(case: Case, *, backward: bool = True) -> Case:
    """``case`` without its transform (and without its output gradient unless
    ``backward``)."""
    return dataclasses.replace(case, transform=None, tangents=None,
                               grad_outputs=case.grad_outputs if backward else None)


def expected(case: Case, plain: Plain) -> list[Expected]:
    """The one process's :class:`Expected` of a transformed single-process ``case``;
    ``plain`` gives the family's expectation of an untransformed case."""
    if case.world.nprocs != 1:
        raise ValueError(f"transformed cases are single-process; got world {case.world}")
    if case.transform == "compile":
        return plain(untransformed(case))
    if case.transform == "export":
        return plain(untransformed(case, backward=False))
    if case.transform == "vmap":
        return vmapped(case, plain)
    if case.transform not in ("forward_ad", "double_backward"):
        raise ValueError(f"no expectation for transform {case.transform!r}")
    (want,) = plain(untransformed(case, backward=case.transform == "double_backward"))
    if want.error is not None:
        return [want]
    reference = reference_outcome(case)
    if reference.error is not None:
        return [Expected(error=error_class(reference.error), state_before=case.states[0])]
    if case.transform == "forward_ad":
        want.tangent = reference.extra["tangent"]
        want.tangent_bound = tangent_bound(case, reference.state_after, want.tangent)
    else:
        second = reference.extra["second_order"]
        want.second_order = second
        want.second_order_bounds = {"grad_output": tangent_bound(
            case, reference.state_after, second["grad_output"],
            directions=case.tangents[0])}
    return [want]


def vmapped(case: Case, plain: Plain) -> list[Expected]:
    """The stacked per-sample expectations of a ``vmap`` case (see the module doc), or
    the reference's error with the state as loaded."""
    reference = reference_outcome(case)
    if reference.error is not None:
        return [Expected(error=error_class(reference.error), state_before=case.states[0])]
    indices = case.inputs[0]
    samples = []
    for b in range(indices.shape[0]):
        grads = None if case.grad_outputs is None else [case.grad_outputs[0][b]]
        sample = dataclasses.replace(untransformed(case), inputs=[indices[b]],
                                     grad_outputs=grads)
        (want,) = plain(sample)
        if want.error is not None:
            return [want]
        samples.append(want)
    first = samples[0]
    stacked = Expected(state_after=first.state_after,
                       output=torch.stack([s.output for s in samples]))
    if first.output_bound is not None:
        stacked.output_bound = tolerance.stack([s.output_bound for s in samples],
                                               first.output.shape)
    if first.grads is not None:
        stacked.grads = {name: None if g is None else torch.stack([s.grads[name]
                                                                   for s in samples])
                         for name, g in first.grads.items()}
        stacked.grad_bounds = {name: tolerance.stack([s.grad_bounds[name] for s in samples],
                                                     first.grads[name].shape)
                               for name in (first.grad_bounds or {})}
    return [stacked]


def tangent_bound(case: Case, state: dict[str, torch.Tensor], tangent: torch.Tensor, *,
                  directions: dict[str, torch.Tensor] | None = None) -> tolerance.Bound:
    """The bound of a forward-mode tangent of the case's layer (``forward_ad``), or of the
    derivative of its backward with respect to the output gradient in ``directions``
    (``double_backward``: the same linear map), by family: a gather of the table's
    tangent (embedding), its straight-through scaling (binary), the layer norm's tangent
    of the looked-up tangent rows (stable). ``state`` is the reference's state after the
    forward (the rows it looked up)."""
    config = case.config
    ids = case.inputs[0]
    directions = case.tangents[0] if directions is None else directions
    if config.family == "embedding":
        return tolerance.lookup_tangent(ids, tangent, config.num_embeddings,
                                        scale_grad_by_freq=config.scale_grad_by_freq)
    flat = ids.reshape(-1).to(torch.int64)
    if config.family == "binary":
        _, scale = pack(case.states[0]["weight"], config.padding_idx, centre=config.centre)
        rows = directions["weight"].index_select(0, flat).reshape(*ids.shape, config.embedding_dim)
        return tolerance.binary_tangent(scale.index_select(0, flat).reshape(ids.shape), rows,
                                        embedding_dim=config.embedding_dim,
                                        dtype=tangent.dtype)
    if config.family == "stable":
        padding = normalize_padding_idx(config.padding_idx, config.num_embeddings)
        rows = state["weight"].index_select(0, flat).reshape(*ids.shape, config.embedding_dim)
        table_tangent = directions["weight"]
        dx = contributions(table_tangent.index_select(0, flat), flat, config.num_embeddings,
                           padding, config.scale_grad_by_freq).reshape(rows.shape)
        return tolerance.layer_norm_tangent(
            rows, state["norm.weight"], dx, directions["norm.weight"], directions["norm.bias"],
            LAYER_NORM_EPS, dtype=tangent.dtype, compute_dtype=state["norm.weight"].dtype,
            rows_rounded_in=table_tangent.dtype if config.scale_grad_by_freq else None)
    raise ValueError(f"no tangent bound for family {config.family!r}")
