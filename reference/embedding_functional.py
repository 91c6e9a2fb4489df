"""The functional embedding: validate, renormalise, look up (spec sections 0 and 1).

Three functions, each the normative statement of one step:

* :func:`renorm_` (S1.2): the in-place ``max_norm`` renormalisation of the referenced rows;
* :func:`lookup` (S0.1, S1.3-S1.5): the gather, with the spec's dense and sparse backward;
* :func:`embedding`: validates every argument (S0.2, S0.3, S0.5, S1.1, S1.2, S1.4) and
  only then calls :func:`renorm_` and :func:`lookup`, so an error never leaves the weight
  changed (S0.4).

They compose with PyTorch's program transforms as ``docs/spec/composability.md``
states: forward-mode AD (:func:`lookup_tangent`), ``torch.func`` (``vmap`` over the ids
or over the backward, ``jacrev``, ``jacfwd``), double backward, and
``torch.compile(fullgraph=True)`` / ``torch.export``, the data-dependent steps being the
operators of :mod:`.operators`.
"""

from __future__ import annotations

from typing import Any

import torch

from . import operators
from .operators import RENORM_EPS
from .validation import (
    check_ids_in_range,
    check_index_dtype,
    check_max_norm,
    check_sparse_options,
    check_weight,
    normalize_padding_idx,
)

__all__ = ["RENORM_EPS", "contributions", "dense_weight_grad", "embedding", "lookup",
           "lookup_tangent", "renorm_", "sparse_weight_grad"]


def renorm_(weight: torch.Tensor, input: torch.Tensor, max_norm: float,
            norm_type: float = 2.0) -> None:
    """Renormalise in place the rows of ``weight`` referenced by ``input`` (S1.2).

    Every distinct id of ``input`` (repeats count once, any index shape, empty input
    is a no-op) names a row ``w``. Let ``n`` be its ``norm_type``-norm, computed on the
    absolute values in the weight's dtype (``inf``: the largest absolute value). If
    ``n > max_norm`` (strictly; a NaN norm never is), the row becomes ``w * s`` with
    ``s = max_norm / (n + 1e-7)`` computed in double precision from ``n`` and rounded
    to the weight's dtype; each product is rounded to the weight's dtype.
    ``max_norm = 0`` therefore zeroes every referenced non-zero row (negative elements
    become ``-0.0``). Rows not referenced are untouched; the padding row is renormalised
    like any other.

    The update is invisible to autograd, forward-mode AD included (it writes a detached
    alias of the table): gradients and tangents flow as if the lookup had read the
    renormalised rows directly. On CPU this is bit-exact with ``torch.embedding_renorm_``
    in every floating dtype. It is the operator :func:`.operators.renorm_`, so compiled
    and exported layers renormalise too; under ``vmap`` it raises ``RuntimeError``
    (composability).

    Validates first: ``TypeError`` for a bad index dtype, ``IndexError`` for ids outside
    ``[0, V)``, ``ValueError`` unless ``max_norm`` is finite and ``>= 0`` and
    ``norm_type > 0``; on any error the weight is unchanged (S0.4).
    """
    check_weight(weight)
    check_index_dtype(input)
    max_norm, norm_type = check_max_norm(max_norm, norm_type)
    if max_norm is None:
        raise ValueError("max_norm must be a finite real number >= 0, got None")
    check_ids_in_range(input, weight.shape[0])
    _renorm(weight, input, max_norm, norm_type)


def _renorm(weight: torch.Tensor, input: torch.Tensor, max_norm: float,
            norm_type: float) -> None:
    """:func:`renorm_` on validated arguments."""
    operators.renorm_(weight.detach(), input, max_norm, norm_type)


def contributions(values: torch.Tensor, flat_ids: torch.Tensor, num_embeddings: int,
                  padding_idx: int | None, scale_grad_by_freq: bool) -> torch.Tensor:
    """Each position's share of the derivative of a lookup (S1.1, S1.3): ``values``
    ``(n, D)`` (one row per position of ``flat_ids``) with the padding positions set to
    exact zeros and, with ``scale_grad_by_freq``, every row divided by the number of
    occurrences of its id in the whole index tensor.

    The lookup's Jacobian is therefore the same in both directions of differentiation:
    the backward sums these contributions of the output gradient per row (S1.5), the
    forward-mode tangent is the contributions of the looked-up tangent rows, and the
    derivative of the backward with respect to the output gradient is that tangent
    again. Out of place and free of data-dependent shapes, so it batches under
    ``vmap`` and traces under ``torch.compile``.
    """
    if scale_grad_by_freq:
        ones = torch.ones_like(flat_ids, dtype=values.dtype)
        counts = torch.zeros(num_embeddings, dtype=values.dtype, device=values.device)
        counts = counts.index_add(0, flat_ids, ones)
        values = values / counts.index_select(0, flat_ids).unsqueeze(1)
    if padding_idx is not None:
        zero = torch.zeros((), dtype=values.dtype, device=values.device)
        values = torch.where((flat_ids == padding_idx).unsqueeze(1), zero, values)
    return values


def lookup_tangent(weight_tangent: torch.Tensor, input: torch.Tensor,
                   padding_idx: int | None, scale_grad_by_freq: bool) -> torch.Tensor:
    """The forward-mode derivative of a lookup (composability): for a tangent
    ``weight_tangent`` of the table, the tangent of ``lookup(input, weight)`` is the
    lookup of the tangent with the backward's rules, ``weight_tangent[input]`` with
    exact zeros at padding positions and, with ``scale_grad_by_freq``, each row divided
    by its id's count (:func:`contributions`). Shape ``input.shape + (D,)``, dtype of
    the tangent. The ``max_norm`` renorm does not enter it (S1.2)."""
    flat = input.reshape(-1)
    rows = weight_tangent.index_select(0, flat)
    rows = contributions(rows, flat, weight_tangent.shape[0], padding_idx, scale_grad_by_freq)
    return rows.reshape(*input.shape, weight_tangent.shape[1])


class _Lookup(torch.autograd.Function):
    """Gather rows; backward states the spec's gradient rule (S1.3-S1.5).

    ``setup_context``-style with a generated vmap rule, so ``torch.func`` transforms
    (``vmap`` over the ids or over the backward, ``jacrev``) apply; the backward is
    made of differentiable, out-of-place operations, so it can itself be differentiated
    (double backward: zero with respect to the weight, :func:`lookup_tangent` of the
    direction with respect to the output gradient). Forward-mode AD is the subclass
    :class:`_LookupWithTangent`, which Dynamo cannot trace; :func:`lookup` uses this
    class while ``torch.compile`` or ``torch.export`` traces.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input: torch.Tensor, weight: torch.Tensor, padding_idx: int | None,
                scale_grad_by_freq: bool, sparse: bool) -> torch.Tensor:
        return weight.index_select(0, input.reshape(-1)).reshape(*input.shape, weight.shape[1])

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        input, weight, padding_idx, scale_grad_by_freq, sparse = inputs
        ctx.save_for_backward(input)
        ctx.save_for_forward(input)
        ctx.num_embeddings = weight.shape[0]
        ctx.padding_idx = padding_idx
        ctx.scale_grad_by_freq = scale_grad_by_freq
        ctx.sparse = sparse

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if not ctx.needs_input_grad[1]:
            return None, None, None, None, None
        (input,) = ctx.saved_tensors
        flat = input.reshape(-1)
        if ctx.sparse:
            grad_weight = sparse_weight_grad(grad_output, flat, ctx.num_embeddings,
                                             ctx.padding_idx)
        else:
            grad_weight = dense_weight_grad(grad_output, flat, ctx.num_embeddings,
                                            ctx.padding_idx, ctx.scale_grad_by_freq)
        return None, grad_weight, None, None, None


class _LookupWithTangent(_Lookup):
    """:class:`_Lookup` with its forward-mode derivative, :func:`lookup_tangent`."""

    @staticmethod
    def jvp(ctx: Any, input_tangent: torch.Tensor | None, weight_tangent: torch.Tensor | None,
            *option_tangents: Any) -> torch.Tensor | None:
        if weight_tangent is None:
            return None
        (input,) = ctx.saved_tensors
        return lookup_tangent(weight_tangent, input, ctx.padding_idx, ctx.scale_grad_by_freq)


def dense_weight_grad(grad_output: torch.Tensor, flat_ids: torch.Tensor, num_embeddings: int,
                      padding_idx: int | None, scale_grad_by_freq: bool) -> torch.Tensor:
    """The dense weight gradient (S1.3, S1.5).

    ``grad_weight[k] = sum over positions i with ids[i] == k != padding_idx of
    grad_output[i] / (count_k if scale_grad_by_freq else 1)``, where ``count_k`` is the
    number of occurrences of ``k`` in the whole (flattened) index tensor of the call.
    Shape ``(V, D)``, dtype and device of ``grad_output``; rows never referenced, and the
    padding row, are exactly zero.

    The reference accumulates in float32 (float64 for float64 gradients), adding the
    contributions in input order, and rounds once to the gradient dtype at the end; a
    row with a single contribution is therefore exact. Other accumulation orders or
    precisions differ only within the tolerance of S0.7. Every step is out of place and
    differentiable (:func:`contributions`, ``index_add``), so the gradient batches under
    ``vmap`` and has a derivative of its own.
    """
    dim = grad_output.shape[-1]
    accumulate = torch.float64 if grad_output.dtype == torch.float64 else torch.float32
    ids = flat_ids.to(device=grad_output.device, dtype=torch.int64)
    grads = grad_output.reshape(ids.shape[0], dim).to(accumulate)
    grads = contributions(grads, ids, num_embeddings, padding_idx, scale_grad_by_freq)
    grad_weight = torch.zeros(num_embeddings, dim, dtype=accumulate, device=grad_output.device)
    return grad_weight.index_add(0, ids, grads).to(grad_output.dtype)


def sparse_weight_grad(grad_output: torch.Tensor, flat_ids: torch.Tensor, num_embeddings: int,
                       padding_idx: int | None) -> torch.Tensor:
    """The sparse weight gradient (S1.4).

    A COO tensor of shape ``(V, D)``: one entry per position whose id is not
    ``padding_idx``, index = the id (int64), value = ``grad_output`` at that position, in
    input order, uncoalesced. No entries (every id is the padding id, empty input, or
    ``D = 0``) gives indices of shape ``(1, 0)`` and values of shape ``(0, D)``. Equal to
    the dense gradient once coalesced; conformance compares coalesced gradients, so a
    backend may coalesce.
    """
    dim = grad_output.shape[-1]
    grads = grad_output.reshape(flat_ids.numel(), dim)
    ids = flat_ids.to(device=grad_output.device, dtype=torch.int64)
    if padding_idx is not None:
        keep = ids != padding_idx
        ids, grads = ids[keep], grads[keep]
    if dim == 0:
        ids, grads = ids[:0], grads[:0]
    return torch.sparse_coo_tensor(ids.reshape(1, -1), grads, (num_embeddings, dim),
                                   check_invariants=True)


def lookup(input: torch.Tensor, weight: torch.Tensor, *, padding_idx: int | None = None,
           scale_grad_by_freq: bool = False, sparse: bool = False) -> torch.Tensor:
    """Gather ``weight[input]`` with the spec's backward (S0.1, S1.3-S1.5).

    Output: shape ``input.shape + (D,)`` for any index shape (0-d, empty and
    non-contiguous included), dtype and device of ``weight``, a fresh tensor (writing to
    it never changes ``weight``), bitwise equal to the stored rows. The padding row is
    returned as stored (it is not forced to zero).

    Backward: the weight gradient is :func:`dense_weight_grad` or, with ``sparse``,
    :func:`sparse_weight_grad`. ``input`` never receives a gradient. Forward-mode AD:
    the tangent is :func:`lookup_tangent` of the weight's tangent (the same Jacobian).

    Validates ``input`` (``TypeError``/``IndexError``), ``weight``, ``padding_idx``
    (``[-V, V-1]``, negative values normalised) and the sparse options (``ValueError``);
    it never changes ``weight``.
    """
    check_weight(weight)
    check_index_dtype(input)
    padding_idx = normalize_padding_idx(padding_idx, weight.shape[0])
    sparse, scale_grad_by_freq = check_sparse_options(sparse, scale_grad_by_freq)
    check_ids_in_range(input, weight.shape[0])
    return _gather(input, weight, padding_idx, scale_grad_by_freq, sparse)


def _gather(input: torch.Tensor, weight: torch.Tensor, padding_idx: int | None,
            scale_grad_by_freq: bool, sparse: bool) -> torch.Tensor:
    """:func:`lookup` on validated arguments."""
    function = _Lookup if torch.compiler.is_compiling() else _LookupWithTangent
    return function.apply(input.to(weight.device), weight, padding_idx, scale_grad_by_freq,
                          sparse)


def embedding(input: torch.Tensor, weight: torch.Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> torch.Tensor:
    """The functional embedding: ``torch.nn.functional.embedding`` as the spec states it.

    1. Validate everything (nothing is changed on error, S0.4): ``input`` is an int32
       or int64 tensor (``TypeError``, S0.2) whose ids lie in ``[0, V)`` (``IndexError``,
       S0.3; negative ids are out of range); ``weight`` is a 2-D floating tensor,
       ``padding_idx`` an integer in ``[-V, V-1]`` or None (S1.1), ``max_norm`` None or a
       finite real ``>= 0``, ``norm_type`` a real ``> 0`` or ``inf`` (S1.2), ``sparse``
       and ``scale_grad_by_freq`` bools not both true (S1.4); else ``ValueError``.
    2. If ``max_norm`` is not None, :func:`renorm_` the referenced rows in place (S1.2).
    3. Return :func:`lookup` (S0.1, S1.3-S1.5).
    """
    check_weight(weight)
    check_index_dtype(input)
    padding_idx = normalize_padding_idx(padding_idx, weight.shape[0])
    max_norm, norm_type = check_max_norm(max_norm, norm_type)
    sparse, scale_grad_by_freq = check_sparse_options(sparse, scale_grad_by_freq)
    check_ids_in_range(input, weight.shape[0])
    if max_norm is not None:
        _renorm(weight, input, max_norm, norm_type)
    return _gather(input, weight, padding_idx, scale_grad_by_freq, sparse)
