"""The functional embedding: validate, renormalise, look up (spec sections 0 and 1).

Three functions, each the normative statement of one step:

* :func:`renorm_` (S1.2): the in-place ``max_norm`` renormalisation of the referenced rows;
* :func:`lookup` (S0.1, S1.3-S1.5): the gather, with the spec's dense and sparse backward;
* :func:`embedding`: validates every argument (S0.2, S0.3, S0.5, S1.1, S1.2, S1.4) and
  only then calls :func:`renorm_` and :func:`lookup`, so an error never leaves the weight
  changed (S0.4).
"""

from __future__ import annotations

import torch

from .validation import (
    check_ids_in_range,
    check_index_dtype,
    check_max_norm,
    check_sparse_options,
    check_weight,
    normalize_padding_idx,
)

RENORM_EPS = 1e-7
"""Added to the norm in the renormalisation factor ``max_norm / (norm + RENORM_EPS)`` (S1.2)."""


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

    The update is invisible to autograd (it runs under ``torch.no_grad``): gradients
    flow as if the lookup had read the renormalised rows directly. On CPU this is
    bit-exact with ``torch.embedding_renorm_`` in every floating dtype.

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
    if input.numel() == 0:
        return
    ids = torch.unique(input.detach().reshape(-1).to(device="cpu", dtype=torch.int64))
    with torch.no_grad():
        for k in ids.tolist():
            row = weight[k]
            norm = row.norm(norm_type).item()
            if norm > max_norm:
                factor = torch.tensor(max_norm / (norm + RENORM_EPS), dtype=weight.dtype,
                                      device=weight.device)
                row.mul_(factor)


class _Lookup(torch.autograd.Function):
    """Gather rows; backward states the spec's gradient rule (S1.3-S1.5)."""

    @staticmethod
    def forward(ctx, input: torch.Tensor, weight: torch.Tensor, padding_idx: int | None,
                scale_grad_by_freq: bool, sparse: bool) -> torch.Tensor:
        flat = input.reshape(-1)
        ctx.save_for_backward(flat)
        ctx.num_embeddings = weight.shape[0]
        ctx.padding_idx = padding_idx
        ctx.scale_grad_by_freq = scale_grad_by_freq
        ctx.sparse = sparse
        return weight.index_select(0, flat).reshape(*input.shape, weight.shape[1])

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        if not ctx.needs_input_grad[1]:
            return None, None, None, None, None
        (flat,) = ctx.saved_tensors
        if ctx.sparse:
            grad_weight = sparse_weight_grad(grad_output, flat, ctx.num_embeddings,
                                             ctx.padding_idx)
        else:
            grad_weight = dense_weight_grad(grad_output, flat, ctx.num_embeddings,
                                            ctx.padding_idx, ctx.scale_grad_by_freq)
        return None, grad_weight, None, None, None


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
    precisions differ only within the tolerance of S0.7.
    """
    dim = grad_output.shape[-1]
    accumulate = torch.float64 if grad_output.dtype == torch.float64 else torch.float32
    grads = grad_output.reshape(flat_ids.numel(), dim).to(accumulate)
    ids = flat_ids.to(device=grad_output.device, dtype=torch.int64)
    grad_weight = torch.zeros(num_embeddings, dim, dtype=accumulate, device=grad_output.device)
    if scale_grad_by_freq:
        counts = torch.bincount(ids, minlength=num_embeddings)
        grads = grads / counts[ids].unsqueeze(1).to(accumulate)
    if padding_idx is not None:
        keep = ids != padding_idx
        ids, grads = ids[keep], grads[keep]
    return grad_weight.index_add_(0, ids, grads).to(grad_output.dtype)


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
    :func:`sparse_weight_grad`. ``input`` never receives a gradient.

    Validates ``input`` (``TypeError``/``IndexError``), ``weight``, ``padding_idx``
    (``[-V, V-1]``, negative values normalised) and the sparse options (``ValueError``);
    it never changes ``weight``.
    """
    check_weight(weight)
    check_index_dtype(input)
    padding_idx = normalize_padding_idx(padding_idx, weight.shape[0])
    sparse, scale_grad_by_freq = check_sparse_options(sparse, scale_grad_by_freq)
    check_ids_in_range(input, weight.shape[0])
    input = input.to(weight.device)
    return _Lookup.apply(input, weight, padding_idx, scale_grad_by_freq, sparse)


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
        renorm_(weight, input, max_norm, norm_type)
    return lookup(input, weight, padding_idx=padding_idx,
                  scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)
