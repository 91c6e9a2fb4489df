"""The eager gather with the spec's derivatives in every mode of differentiation.

``torch.embedding`` gathers and its backward follows S1.3-S1.5, but its forward-mode
derivative ignores ``padding_idx`` and ``scale_grad_by_freq`` (the lookup of the tangent,
as is) and the derivative of its dense backward ignores ``scale_grad_by_freq``. The spec has
one Jacobian for every mode (``docs/spec/composability.md``): a position with id ``k``
contributes ``1/count_k`` with frequency scaling, ``0`` when ``k`` is the padding row,
else ``1``. :func:`lookup` keeps ``torch.embedding``'s gather and states that Jacobian
in an ``autograd.Function``:

* backward: each output gradient row times its contribution, summed per row by an
  out-of-place ``index_add``, or the sparse gradient of ``aten.embedding_sparse_backward``;
  made of differentiable operators, so its own derivative (double backward) is the
  same masked, scaled gather of the direction (``aten.embedding_dense_backward``'s
  derivative ignores the frequency scaling and fails on empty indices);
* forward-mode AD: the gather of the table's tangent times the contributions;
* ``vmap``: a generated rule (``setup_context`` style, out-of-place operators only).

A lookup in which every position contributes ``1`` (no padding row, no frequency
scaling, a dense gradient, at least one id) is plain ``torch.embedding``: its derivatives
are then the spec's, without the cost of an ``autograd.Function``.

Dynamo cannot trace an ``autograd.Function`` with a forward-mode derivative, so while
``torch.compile`` or ``torch.export`` traces, :func:`lookup` uses the class without it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch


class Rule(NamedTuple):
    """What a lookup's derivatives depend on besides the ids: the table's row count, the
    padding row (or None), frequency scaling and sparse gradients."""

    num_embeddings: int
    padding_idx: int | None
    scale_grad_by_freq: bool
    sparse: bool


def position_scales(ids: torch.Tensor, num_embeddings: int, padding_idx: int | None,
                    scale_grad_by_freq: bool, dtype: torch.dtype) -> torch.Tensor | None:
    """Per position of ``ids`` (any shape), its contribution to the Jacobian, shaped
    ``ids.shape + (1,)`` in ``dtype``: ``0`` at padding positions, ``1 / count`` of its id
    with ``scale_grad_by_freq``, else ``1``; None when every contribution is ``1``."""
    if not scale_grad_by_freq and padding_idx is None:
        return None
    flat = ids.reshape(-1)
    scales = torch.ones(flat.shape, dtype=dtype, device=ids.device)
    if scale_grad_by_freq:
        counts = torch.zeros(num_embeddings, dtype=dtype, device=ids.device)
        counts = counts.index_add(0, flat, scales)
        scales = counts.reciprocal().index_select(0, flat)
    if padding_idx is not None:
        scales = scales.masked_fill(flat == padding_idx, 0)
    return scales.reshape(*ids.shape, 1)


class _Lookup(torch.autograd.Function):
    """``torch.embedding`` of the table, with the spec's backward (see the module doc)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(weight: torch.Tensor, ids: torch.Tensor, rule: Rule) -> torch.Tensor:
        return torch.embedding(weight, ids)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        _, ids, rule = inputs
        ctx.rule = rule
        ctx.save_for_backward(ids)
        ctx.save_for_forward(ids)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None
        (ids,) = ctx.saved_tensors
        rule = ctx.rule
        if rule.sparse:
            padding = -1 if rule.padding_idx is None else rule.padding_idx
            grad = torch.ops.aten.embedding_sparse_backward(grad_output, ids,
                                                            rule.num_embeddings, padding, False)
            return grad, None, None
        flat = ids.reshape(-1)
        rows = grad_output.reshape(flat.shape[0], grad_output.shape[-1])
        if rule.padding_idx is not None:
            rows = rows.masked_fill((flat == rule.padding_idx).unsqueeze(1), 0)
        if rule.scale_grad_by_freq:
            rows = rows * position_scales(flat, rule.num_embeddings, None, True, rows.dtype)
        grad = rows.new_zeros(rule.num_embeddings, rows.shape[1]).index_add(0, flat, rows)
        return grad, None, None


class _LookupWithTangent(_Lookup):
    """:class:`_Lookup` with its forward-mode derivative."""

    @staticmethod
    def jvp(ctx: Any, weight_tangent: torch.Tensor | None, *other_tangents: Any
            ) -> torch.Tensor | None:
        if weight_tangent is None:
            return None
        (ids,) = ctx.saved_tensors
        rows = torch.embedding(weight_tangent, ids)
        rule = ctx.rule
        scales = position_scales(ids, rule.num_embeddings, rule.padding_idx,
                                 rule.scale_grad_by_freq, rows.dtype)
        return rows if scales is None else rows * scales


def lookup(input: torch.Tensor, weight: torch.Tensor, *, padding_idx: int | None = None,
           scale_grad_by_freq: bool = False, sparse: bool = False) -> torch.Tensor:
    """``weight[input]`` with the spec's derivatives (S1.3-S1.5, composability).

    ``padding_idx`` is a row of ``weight`` (never negative): its gradient and its
    positions' tangents are zero. ``input`` is validated by the caller.
    """
    if padding_idx is None and not scale_grad_by_freq and not sparse and input.numel():
        # Every position contributes 1: torch.embedding's derivatives in every mode are
        # the spec's (its double backward fails only for an empty index tensor).
        return torch.embedding(weight, input)
    if sparse and input.dim() == 0:
        # torch's sparse backward cannot mask a 0-d index against padding_idx.
        return lookup(input.reshape(1), weight, padding_idx=padding_idx, sparse=True).squeeze(0)
    function = _Lookup if torch.compiler.is_compiling() else _LookupWithTangent
    return function.apply(weight, input, Rule(weight.shape[0], padding_idx,
                                              scale_grad_by_freq, sparse))
