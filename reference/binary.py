"""Binary embedding (spec S5): a latent float table used through its packed sign form.

The layer stores a latent float weight ``(V, D)``. Its embeddings are those of the
packed form :func:`~embedspec.reference.binary_packing.pack` defines: for an id ``r``,

    ``out[..., c] = (+1 if bit(r, c) else -1) * scale[r]``,

computed in float32 (a product with ``±1``, so exact) and cast once to the output
dtype. The padding row outputs exact ``+0.0``. Indices may have any shape (S0.1);
only int32/int64 indices are accepted (``TypeError``, S0.2) and every id must lie
in ``[0, V)`` (``IndexError``, S0.3).

Two forward paths give bitwise identical outputs:

* :func:`binary_embedding` (the latent path, ``BinaryEmbedding.forward``): packs the
  latent weight and looks up the packed form, with the straight-through backward
  below. It is the training path.
* :func:`binary_embedding_packed` (``BinaryEmbedding.forward_packed``): looks up a
  given ``(qweight, scale)``, no gradient.

Straight-through backward of the latent path: for every row ``r``,

    ``grad_weight[r] = scale[r] * (sum of the output gradients at the positions with id r)``

accumulated in float64 and cast to the weight's dtype; the padding row's gradient is
exactly zero (even for non-finite output gradients). ``scale`` is treated as a constant
(no gradient flows through the mean of ``|w|``), and so is the centring mean when
``centre=True``: the rule is the same with and without centring. Indices get no
gradient. Forward-mode AD applies the same Jacobian: the tangent at a position with id
``r`` is ``scale[r] * weight_tangent[r]``, exact zeros at padding positions
(``docs/spec/composability.md``).

Differences from bitorch-engine's ``BinaryEmbeddingCuda`` are deliberate (see
``docs/spec/divergences.md``): no centring unless asked for, scale over the D real
columns only, exact-zero padding row for every D, any ``padding_idx`` in
``[-V, V-1]``, indices of any shape, and a working straight-through training path.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .binary_packing import (
    PackedBinary,
    check_qweight,
    pack,
    packed_dim,
    signs_from_bits,
    unpack,
    unpack_bits,
)
from .configs import BinaryConfig
from .init import init_weight_
from .validation import (
    check_device,
    check_float_dtype,
    check_indices,
    check_int,
    check_weight,
    normalize_padding_idx,
)

__all__ = [
    "BinaryEmbedding",
    "PackedBinary",
    "binary_embedding",
    "binary_embedding_packed",
    "pack",
    "packed_dim",
    "unpack",
]


def _check_output_dtype(dtype: object) -> torch.dtype:
    checked = check_float_dtype("dtype", dtype)
    if checked is None:
        raise ValueError("dtype must be a floating-point torch.dtype, got None")
    return checked


def _check_scale(scale: object, num_embeddings: int, device: torch.device) -> torch.Tensor:
    if not isinstance(scale, torch.Tensor):
        raise ValueError(f"scale must be a 1-D float32 tensor, got {type(scale).__name__}")
    if scale.dtype != torch.float32:
        raise ValueError(f"scale must have dtype float32, got {scale.dtype}")
    if scale.dim() != 1 or scale.shape[0] != num_embeddings:
        raise ValueError(f"scale must have shape ({num_embeddings},) to match qweight, "
                         f"got {tuple(scale.shape)}")
    if scale.device != device:
        raise ValueError(f"scale is on {scale.device} but qweight is on {device}")
    return scale


def _lookup_packed(input: torch.Tensor, qweight: torch.Tensor, scale: torch.Tensor,
                   embedding_dim: int, dtype: torch.dtype) -> torch.Tensor:
    """The S5 lookup on validated arguments: ``sign * scale[id]``, shape ``I + (D,)``."""
    ids = input.to(qweight.device).reshape(-1).long()
    signs = signs_from_bits(unpack_bits(qweight.index_select(0, ids), embedding_dim))
    rows = signs * scale.index_select(0, ids).unsqueeze(1)
    return rows.to(dtype).reshape(*input.shape, embedding_dim)


def binary_embedding_packed(input: torch.Tensor, qweight: torch.Tensor, scale: torch.Tensor,
                            embedding_dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Look up ids in a packed binary table (S5): ``(±1 by bit) * scale[id]`` cast to ``dtype``.

    ``qweight`` uint8 ``(V, ceil(D/8))`` and ``scale`` float32 ``(V,)`` as produced by
    :func:`pack`. The output has shape ``input.shape + (embedding_dim,)`` and lives on
    ``qweight``'s device. No gradient flows (the packed form is not trainable).

    Errors, all raised before any computation: ``TypeError`` for indices that are not
    int32/int64, ``IndexError`` for ids outside ``[0, V)``, ``ValueError`` for a
    malformed ``qweight`` (dtype, shape, width not ``ceil(D/8)``, nonzero unused bits),
    a ``scale`` that is not float32 of shape ``(V,)`` on ``qweight``'s device, or a
    non-floating ``dtype``.
    """
    dim = check_qweight(qweight, embedding_dim)
    scale = _check_scale(scale, qweight.shape[0], qweight.device)
    dtype = _check_output_dtype(dtype)
    check_indices(input, qweight.shape[0])
    with torch.no_grad():
        return _lookup_packed(input, qweight, scale, dim, dtype)


class _StraightThroughBinary(torch.autograd.Function):
    """Forward: the packed lookup of ``pack(weight)``, and the packed scales (not
    differentiable). Backward: the S5 straight-through rule, out of place and made of
    differentiable operations (it batches under ``vmap`` and has a derivative: zero with
    respect to the weight, the straight-through tangent of the direction with respect to
    the output gradient). ``setup_context``-style with a generated vmap rule; the
    forward-mode derivative is the subclass :class:`_StraightThroughWithTangent`, which
    Dynamo cannot trace, so :func:`binary_embedding` uses this class while
    ``torch.compile`` or ``torch.export`` traces."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input: torch.Tensor, weight: torch.Tensor, padding_idx: int | None,
                centre: bool, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        qweight, scale = pack(weight, padding_idx, centre=centre)
        return _lookup_packed(input, qweight, scale, weight.shape[1], dtype), scale

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        input, weight, padding_idx, _centre, dtype = inputs
        _, scale = output
        ids = input.to(weight.device)
        ctx.mark_non_differentiable(scale)
        ctx.save_for_backward(ids, scale)
        ctx.save_for_forward(ids, scale)
        ctx.padding_idx = padding_idx
        ctx.weight_shape = weight.shape
        ctx.weight_dtype = weight.dtype
        ctx.output_dtype = dtype

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor,
                 grad_scale: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        if not ctx.needs_input_grad[1]:
            return None, None, None, None, None
        ids, scale = ctx.saved_tensors
        num_embeddings, embedding_dim = ctx.weight_shape
        flat = ids.reshape(-1).long()
        sums = torch.zeros((num_embeddings, embedding_dim), dtype=torch.float64,
                           device=grad_output.device)
        sums = sums.index_add(0, flat, grad_output.reshape(flat.shape[0], embedding_dim)
                              .to(torch.float64))
        grad_weight = sums * scale.to(torch.float64).unsqueeze(1)
        if ctx.padding_idx is not None:
            rows = torch.arange(num_embeddings, device=grad_weight.device)
            zero = torch.zeros((), dtype=grad_weight.dtype, device=grad_weight.device)
            grad_weight = torch.where((rows == ctx.padding_idx).unsqueeze(1), zero, grad_weight)
        return None, grad_weight.to(ctx.weight_dtype), None, None, None


class _StraightThroughWithTangent(_StraightThroughBinary):
    """:class:`_StraightThroughBinary` with its forward-mode derivative: the tangent at a
    position with id ``r`` is ``scale[r] * weight_tangent[r]`` (float64, cast to the
    output dtype), exact zeros at padding positions: the straight-through rule's
    Jacobian, applied forward."""

    @staticmethod
    def jvp(ctx: Any, input_tangent: torch.Tensor | None, weight_tangent: torch.Tensor | None,
            *option_tangents: Any) -> tuple[torch.Tensor | None, None]:
        if weight_tangent is None:
            return None, None
        ids, scale = ctx.saved_tensors
        flat = ids.reshape(-1).long()
        rows = weight_tangent.index_select(0, flat).to(torch.float64) \
            * scale.index_select(0, flat).to(torch.float64).unsqueeze(1)
        if ctx.padding_idx is not None:
            zero = torch.zeros((), dtype=rows.dtype, device=rows.device)
            rows = torch.where((flat == ctx.padding_idx).unsqueeze(1), zero, rows)
        return rows.to(ctx.output_dtype).reshape(*ids.shape, ctx.weight_shape[1]), None


def binary_embedding(input: torch.Tensor, weight: torch.Tensor, padding_idx: int | None = None,
                     centre: bool = False, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The latent path of S5: embeddings of ``pack(weight, padding_idx, centre=centre)``.

    Returns ``input.shape + (D,)`` in ``dtype`` (default: the weight's dtype), on the
    weight's device, bitwise equal to :func:`binary_embedding_packed` on the packed
    table. Backward is straight-through (module doc): ``grad_weight[r] = scale[r] *
    sum of the output gradients at id r``, zero for the padding row.

    ``padding_idx`` in ``[-V, V-1]`` (S1.1). Errors before any computation:
    ``TypeError`` (index dtype), ``IndexError`` (ids outside ``[0, V)``), ``ValueError``
    (weight not a 2-D float tensor, bad ``padding_idx``, non-bool ``centre``, non-float
    ``dtype``).
    """
    weight = check_weight(weight)
    padding_idx = normalize_padding_idx(padding_idx, weight.shape[0])
    if not isinstance(centre, bool):
        raise ValueError(f"centre must be a bool, got {centre!r}")
    dtype = weight.dtype if dtype is None else _check_output_dtype(dtype)
    check_indices(input, weight.shape[0])
    function = _StraightThroughBinary if torch.compiler.is_compiling() \
        else _StraightThroughWithTangent
    output, _ = function.apply(input, weight, padding_idx, centre, dtype)
    return output


class BinaryEmbedding(nn.Module):
    """A binary embedding layer (S5) with a latent float ``weight`` of shape ``(V, D)``.

    Construction validates every argument first (``ValueError`` naming it, S0.5):
    ``num_embeddings`` and ``embedding_dim`` integers ``>= 0``, ``padding_idx`` in
    ``[-V, V-1]`` or None (stored normalised, S1.1), ``centre`` a bool, ``dtype`` a
    floating dtype (the weight's and the output's). The weight is drawn from N(0, 1)
    and its padding row zeroed (S1.7, scheme ``"normal"``).

    ``forward`` is the latent path (:func:`binary_embedding`, trainable through the
    straight-through rule); ``forward_packed`` looks up :meth:`packed`; the two are
    bitwise equal. The state dict holds ``weight`` only: the packed form is derived.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 centre: bool = False, dtype: torch.dtype = torch.float32, *,
                 device: torch.device | str | None = None) -> None:
        num_embeddings = check_int("num_embeddings", num_embeddings, minimum=0)
        embedding_dim = check_int("embedding_dim", embedding_dim, minimum=0)
        padding_idx = normalize_padding_idx(padding_idx, num_embeddings)
        if not isinstance(centre, bool):
            raise ValueError(f"centre must be a bool, got {centre!r}")
        dtype = _check_output_dtype(dtype)
        device = check_device(device)
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.centre = centre
        self.weight = nn.Parameter(
            torch.empty((num_embeddings, embedding_dim), dtype=dtype, device=device))
        init_weight_(self.weight, "normal", padding_idx=padding_idx)

    @classmethod
    def from_config(cls, config: BinaryConfig, *,
                    device: torch.device | str | None = None) -> BinaryEmbedding:
        """Build from a :class:`BinaryConfig` (``TypeError`` for another kind of config)."""
        if not isinstance(config, BinaryConfig):
            raise TypeError(f"config must be a BinaryConfig, got {type(config).__name__}")
        return cls(**config.as_kwargs(), device=device)

    @property
    def dtype(self) -> torch.dtype:
        """The layer's dtype: that of its latent weight and of its output."""
        return self.weight.dtype

    def packed(self) -> PackedBinary:
        """The packed form of the current latent weight (S5), a fresh copy."""
        return pack(self.weight, self.padding_idx, centre=self.centre)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Latent path: embeddings of ``input`` with the straight-through backward."""
        return binary_embedding(input, self.weight, self.padding_idx, self.centre)

    def forward_packed(self, input: torch.Tensor) -> torch.Tensor:
        """Packed path: embeddings of ``input`` looked up in :meth:`packed`; no gradient."""
        check_indices(input, self.num_embeddings)
        qweight, scale = self.packed()
        return binary_embedding_packed(input, qweight, scale, self.embedding_dim, self.dtype)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.centre:
            text += ", centre=True"
        return text
