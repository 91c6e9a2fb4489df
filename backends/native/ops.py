"""The Python half of the ``embedspec`` operators: fake (meta) kernels for tracing and the
autograd formulas (except ``lookup``'s, which is C++), registered with ``torch.library``
once the compiled library is loaded.

The C++ library defines every operator's schema and its CPU kernel (``csrc/``); the CUDA
kernels are registered by :mod:`.cuda`. The ``register_*`` helpers take an operator's
qualified name, so variant operators with the same schema (the test suite's mutants) get
the same fake kernel. ``padding_idx = -1`` means "no padding row" in
every operator; the layers never pass a negative padding row otherwise.
"""

from __future__ import annotations

from typing import Any

import torch

NAMESPACE = "embedspec"
NO_PADDING = -1


def _op(qualname: str) -> torch._ops.OpOverload:
    namespace, name = qualname.split("::")
    return getattr(getattr(torch.ops, namespace), name).default


def _rows_shape(ids: torch.Tensor, dim: int) -> tuple[int, ...]:
    return (*ids.shape, dim)


def _weight_gradient(grad: torch.Tensor, ids: torch.Tensor, num_weights: int, dim: int,
                     padding_idx: int, scale_grad_by_freq: bool, sparse: bool) -> torch.Tensor:
    """The section-1 weight gradient of rows looked up at ``ids`` (S1.3-S1.5)."""
    if sparse:
        indices, values = torch.ops.embedspec.sparse_backward(grad, ids, padding_idx)
        return torch.sparse_coo_tensor(indices, values, (num_weights, dim), check_invariants=False)
    return torch.ops.embedspec.dense_backward(grad, ids, num_weights, padding_idx,
                                              scale_grad_by_freq)


def register_lookup(qualname: str) -> None:
    """``lookup(weight, ids, padding_idx, scale_grad_by_freq, sparse)``: the fake kernel. The
    section-1 backward is the operator's C++ autograd kernel (``csrc/lookup_autograd.h``),
    so a forward costs one dispatch."""

    @torch.library.register_fake(qualname)
    def _(weight, ids, padding_idx, scale_grad_by_freq, sparse):
        return weight.new_empty(_rows_shape(ids, weight.shape[1]))


def register_renorm(qualname: str) -> None:
    """``renorm_(weight, ids, max_norm, norm_type, rounding)``: in place, outside autograd."""

    @torch.library.register_fake(qualname)
    def _(weight, ids, max_norm, norm_type, rounding):
        return None


def _register_backward_fakes() -> None:
    @torch.library.register_fake("embedspec::dense_backward")
    def _(grad, ids, num_weights, padding_idx, scale_grad_by_freq):
        return grad.new_empty((num_weights, grad.shape[-1]))

    @torch.library.register_fake("embedspec::sparse_backward")
    def _(grad, ids, padding_idx):
        entries = torch.library.get_ctx().new_dynamic_size()
        return (ids.new_empty((1, entries), dtype=torch.int64),
                grad.new_empty((entries, grad.shape[-1])))


def _register_kernels() -> None:
    @torch.library.register_fake("embedspec::lookup_out")
    def _(weight, ids, out):
        return None

    @torch.library.register_fake("embedspec::norm_terms")
    def _(weight, rows, norm_type):
        return weight.new_empty((rows.numel(),), dtype=torch.float64)

    @torch.library.register_fake("embedspec::scale_rows_")
    def _(weight, rows, factors):
        return None


def _register_stable() -> None:
    @torch.library.register_fake("embedspec::stable_forward")
    def _(weight, ids, norm_weight, norm_bias, eps, padding_idx, scale_grad_by_freq, sparse):
        return (weight.new_empty(_rows_shape(ids, weight.shape[1])),
                norm_weight.new_empty((ids.numel(),)), norm_weight.new_empty((ids.numel(),)))

    @torch.library.register_fake("embedspec::stable_backward")
    def _(grad, weight, ids, norm_weight, mean, rstd):
        return (weight.new_empty(_rows_shape(ids, weight.shape[1])),
                norm_weight.new_empty(norm_weight.shape), norm_weight.new_empty(norm_weight.shape))

    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        weight, ids, norm_weight, _, _, padding_idx, scale_grad_by_freq, sparse = inputs
        _, mean, rstd = output
        ctx.mark_non_differentiable(mean, rstd)
        ctx.save_for_backward(weight, ids, norm_weight, mean, rstd)
        ctx.options = (padding_idx, scale_grad_by_freq, sparse)

    def backward(ctx: Any, grad: torch.Tensor, _mean: Any, _rstd: Any) -> tuple:
        weight, ids, norm_weight, mean, rstd = ctx.saved_tensors
        grad_rows, grad_norm_weight, grad_norm_bias = torch.ops.embedspec.stable_backward(
            grad, weight, ids, norm_weight, mean, rstd)
        grad_weight = _weight_gradient(grad_rows, ids, weight.shape[0], weight.shape[1],
                                       *ctx.options)
        return grad_weight, None, grad_norm_weight, grad_norm_bias, None, None, None, None

    torch.library.register_autograd("embedspec::stable_forward", backward,
                                    setup_context=setup_context)


def _register_binary() -> None:
    @torch.library.register_fake("embedspec::binary_pack")
    def _(weight, padding_idx, centre):
        rows, dim = weight.shape
        return (weight.new_empty((rows, (dim + 7) // 8), dtype=torch.uint8),
                weight.new_empty((rows,), dtype=torch.float32))

    @torch.library.register_fake("embedspec::binary_forward")
    def _(weight, ids, padding_idx, centre):
        return (weight.new_empty(_rows_shape(ids, weight.shape[1])),
                weight.new_empty((ids.numel(),), dtype=torch.float32))

    @torch.library.register_fake("embedspec::binary_packed_lookup")
    def _(qweight, scale, ids, embedding_dim, dtype):
        return qweight.new_empty(_rows_shape(ids, embedding_dim), dtype=dtype)

    @torch.library.register_fake("embedspec::binary_backward")
    def _(grad, ids, position_scale, num_weights, padding_idx):
        return grad.new_empty((num_weights, grad.shape[-1]))

    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        weight, ids, padding_idx, _ = inputs
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(ids, output[1])
        ctx.num_weights = weight.shape[0]
        ctx.padding_idx = padding_idx

    def backward(ctx: Any, grad: torch.Tensor, _scale: Any) -> tuple:
        ids, scale = ctx.saved_tensors
        grad_weight = torch.ops.embedspec.binary_backward(grad, ids, scale, ctx.num_weights,
                                                          ctx.padding_idx)
        return grad_weight, None, None, None

    torch.library.register_autograd("embedspec::binary_forward", backward,
                                    setup_context=setup_context)


def _register_vocab() -> None:
    @torch.library.register_fake("embedspec::vocab_lookup")
    def _(weight, ids, num_valid, *shard):
        return weight.new_empty(_rows_shape(ids, weight.shape[1]))

    @torch.library.register_fake("embedspec::vocab_backward")
    def _(grad, ids, num_weights, *shard):
        return grad.new_empty((num_weights, grad.shape[-1]))

    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        weight, ids, _, *shard = inputs
        ctx.save_for_backward(ids)
        ctx.num_weights = weight.shape[0]
        ctx.shard = shard

    def backward(ctx: Any, grad: torch.Tensor) -> tuple:
        (ids,) = ctx.saved_tensors
        grad_weight = torch.ops.embedspec.vocab_backward(grad, ids, ctx.num_weights, *ctx.shard)
        return (grad_weight, None, None, *(None for _ in ctx.shard))

    torch.library.register_autograd("embedspec::vocab_lookup", backward,
                                    setup_context=setup_context)


def register_all() -> None:
    """Register the fake kernels and autograd formulas of every ``embedspec`` operator."""
    register_lookup("embedspec::lookup")
    register_renorm("embedspec::renorm_")
    _register_backward_fakes()
    _register_kernels()
    _register_stable()
    _register_binary()
    _register_vocab()
