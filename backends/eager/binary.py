"""The ``binary`` family in eager PyTorch (spec section 5).

The layer keeps a latent float ``weight`` ``(V, D)``; its embeddings are those of the
normative packed form :class:`PackedBinary`:

* ``qweight`` uint8 ``(V, ceil(D/8))``: the bit of element ``(r, c)`` is ``w[r, c] >= 0``
  (``w >= m`` with centring), least-significant bit first along D (element ``8j + i`` is
  bit ``i`` of byte ``j``), unused high bits of the last byte zero;
* ``scale`` float32 ``(V,)``: the mean of ``|w[r, c]|`` (``|w - m|`` with centring) over
  the D real columns, accumulated in float64 and rounded once; ``0`` when ``D = 0``;
* the padding row is packed as a zero row: every real bit set, scale 0.

``m`` (``centre=True`` only) is the float64 mean of the whole stored table.

Forward packs only the rows the input references (bits, scale, bytes), then unpacks
them through a 256-entry sign table: ``out = (+1 if bit else -1) * scale[id]`` in
float32, cast to the layer's dtype. Packing is row-wise, so this equals looking up the
packed full table bit for bit, and it costs O(len(input) * D) instead of O(V * D).

Backward is straight-through: ``grad_w[r] = scale[r] * (sum of the output gradients at
the positions with id r)``, exactly zero for the padding row; forward-mode AD applies
the same Jacobian (``scale[r] * tangent[r]``, zero at padding positions).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from embedspec.backends.support import (
    check_bool,
    check_device,
    check_dtype,
    check_ids,
    check_sizes,
    normalize_padding_idx,
)
from embedspec.reference.configs import BinaryConfig
from torch import nn

from .embedding import init_table_

BITS_PER_BYTE = 8


class PackedBinary(NamedTuple):
    """A packed binary table: ``qweight`` uint8 ``(V, ceil(D/8))``, ``scale`` float32 ``(V,)``."""

    qweight: torch.Tensor
    scale: torch.Tensor


def packed_width(embedding_dim: int) -> int:
    """Bytes per packed row: ``ceil(embedding_dim / 8)``."""
    return -(-embedding_dim // BITS_PER_BYTE)


def pack_bits(bits: torch.Tensor) -> torch.Tensor:
    """Pack a bool table ``(R, D)`` LSB-first into uint8 ``(R, ceil(D/8))``, unused bits zero.

    Eight vectorised shift-or passes over strided byte planes (one per bit position).
    """
    rows, dim = bits.shape
    width = packed_width(dim)
    if dim == width * BITS_PER_BYTE and bits.is_contiguous():
        planes = bits.view(torch.uint8).view(rows, width, BITS_PER_BYTE)
    else:
        padded = bits.new_zeros((rows, width * BITS_PER_BYTE), dtype=torch.uint8)
        padded[:, :dim] = bits
        planes = padded.view(rows, width, BITS_PER_BYTE)
    packed = planes[..., 0].clone()
    for bit in range(1, BITS_PER_BYTE):
        packed.bitwise_or_(planes[..., bit] << bit)
    return packed


def all_bits_set(embedding_dim: int, device: torch.device) -> torch.Tensor:
    """The packed row ``(ceil(D/8),)`` with every real bit set and every unused bit zero."""
    row = torch.full((packed_width(embedding_dim),), 0xFF, dtype=torch.uint8, device=device)
    used = embedding_dim % BITS_PER_BYTE
    if used:
        row[-1] = (1 << used) - 1
    return row


_SIGN_TABLES: dict[torch.device, torch.Tensor] = {}


def sign_table(device: torch.device) -> torch.Tensor:
    """``(256, 8)`` float32: row ``b`` holds ``+1``/``-1`` for bits 0..7 of byte ``b``."""
    table = None if torch.compiler.is_compiling() else _SIGN_TABLES.get(device)
    if table is None:
        shifts = torch.arange(BITS_PER_BYTE, device=device)
        bits = (torch.arange(256, device=device).unsqueeze(1) >> shifts) & 1
        table = bits.to(torch.float32).mul_(2).sub_(1)
        if not torch.compiler.is_compiling():  # a traced table is not a tensor to keep
            _SIGN_TABLES[device] = table
    return table


def unpack_signs(qweight: torch.Tensor, embedding_dim: int) -> torch.Tensor:
    """The float32 ``±1`` table ``(R, embedding_dim)`` of packed rows ``(R, ceil(D/8))``."""
    rows, width = qweight.shape
    signs = torch.embedding(sign_table(qweight.device), qweight.long())
    return signs.view(rows, width * BITS_PER_BYTE)[:, :embedding_dim]


def dequantise(qweight: torch.Tensor, scale: torch.Tensor, embedding_dim: int,
               dtype: torch.dtype) -> torch.Tensor:
    """Rows ``(R, D)`` of packed rows ``(R, ceil(D/8))`` and their scales ``(R,)``:
    ``(+1 if bit else -1) * scale`` in float32 (exact), cast to ``dtype``."""
    return (unpack_signs(qweight, embedding_dim) * scale.unsqueeze(1)).to(dtype)


def table_centre(weight: torch.Tensor) -> torch.Tensor:
    """The float64 mean of every stored entry (0 for an empty table), a 0-d tensor."""
    if weight.numel() == 0:
        return torch.zeros((), dtype=torch.float64, device=weight.device)
    return weight.detach().sum(dtype=torch.float64) / weight.numel()


def pack_rows(rows: torch.Tensor, is_padding: torch.Tensor | None,
              centre: torch.Tensor | None) -> PackedBinary:
    """Pack latent rows ``(R, D)``. ``is_padding`` (bool ``(R,)`` or None) marks rows packed
    as zero rows; ``centre`` (0-d float64 or None) is subtracted first, in float64."""
    rows = rows.detach()
    dim = rows.shape[1]
    if centre is None:
        bits = rows >= 0
        magnitudes = rows.abs().sum(dim=1, dtype=torch.float64)
    else:
        shifted = rows.to(torch.float64) - centre
        bits = shifted >= 0
        magnitudes = shifted.abs_().sum(dim=1)
    scale = magnitudes.div_(max(dim, 1)).to(torch.float32)
    qweight = pack_bits(bits)
    if is_padding is not None:
        qweight = torch.where(is_padding.unsqueeze(1), all_bits_set(dim, rows.device), qweight)
        scale.masked_fill_(is_padding, 0.0)
    return PackedBinary(qweight, scale)


def pack(weight: torch.Tensor, padding_idx: int | None = None, *,
         centre: bool = False) -> PackedBinary:
    """The packed form of a whole latent table (``padding_idx`` already normalised)."""
    is_padding = None
    if padding_idx is not None:
        is_padding = torch.zeros(weight.shape[0], dtype=torch.bool, device=weight.device)
        is_padding[padding_idx] = True
    with torch.no_grad():
        return pack_rows(weight, is_padding, table_centre(weight) if centre else None)


class _StraightThroughLookup(torch.autograd.Function):
    """Forward: unpack the packed rows of the positions. Backward: the S5 straight-through
    gradient into the latent weight, out of place and differentiable (its derivative
    with respect to the output gradient is the straight-through tangent). A generated
    vmap rule; forward-mode AD is :class:`_StraightThroughWithTangent`, which Dynamo
    cannot trace, so the layer uses this class while ``torch.compile`` traces."""

    generate_vmap_rule = True

    @staticmethod
    def forward(weight: torch.Tensor, flat_ids: torch.Tensor, qweight: torch.Tensor,
                scale: torch.Tensor, padding_idx: int | None) -> torch.Tensor:
        return dequantise(qweight, scale, weight.shape[1], weight.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        weight, flat_ids, _qweight, scale, padding_idx = inputs
        ctx.save_for_backward(flat_ids, scale)
        ctx.save_for_forward(flat_ids, scale)
        ctx.padding_idx = padding_idx
        ctx.weight_shape = weight.shape
        ctx.weight_dtype = weight.dtype

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        flat_ids, scale = ctx.saved_tensors
        accumulate = torch.float64 if ctx.weight_dtype == torch.float64 else torch.float32
        contributions = grad_output.to(accumulate) * scale.to(accumulate).unsqueeze(1)
        grad_weight = contributions.new_zeros(ctx.weight_shape).index_add(0, flat_ids,
                                                                         contributions)
        if ctx.padding_idx is not None:
            rows = torch.arange(ctx.weight_shape[0], device=grad_weight.device)
            grad_weight = grad_weight.masked_fill((rows == ctx.padding_idx).unsqueeze(1), 0)
        return grad_weight.to(ctx.weight_dtype), None, None, None, None


class _StraightThroughWithTangent(_StraightThroughLookup):
    """:class:`_StraightThroughLookup` with its forward-mode derivative: at a position
    with id ``r``, ``scale[r] * weight_tangent[r]`` (zero at padding positions)."""

    @staticmethod
    def jvp(ctx: Any, weight_tangent: torch.Tensor | None, *other_tangents: Any
            ) -> torch.Tensor | None:
        if weight_tangent is None:
            return None
        flat_ids, scale = ctx.saved_tensors
        accumulate = torch.float64 if ctx.weight_dtype == torch.float64 else torch.float32
        rows = weight_tangent.index_select(0, flat_ids).to(accumulate) \
            * scale.to(accumulate).unsqueeze(1)
        if ctx.padding_idx is not None:
            rows = rows.masked_fill((flat_ids == ctx.padding_idx).unsqueeze(1), 0)
        return rows.to(ctx.weight_dtype)


class EagerBinaryEmbedding(nn.Module):
    """A binary embedding (S5) with a latent float ``weight`` ``(V, D)`` drawn from N(0, 1),
    padding row zeroed. ``forward`` is trainable (straight-through); :meth:`packed` returns
    the normative packed form and :meth:`forward_packed` looks ids up in it. State dict:
    ``weight`` only."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 centre: bool = False, dtype: torch.dtype | None = torch.float32, *,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        num_embeddings, embedding_dim = check_sizes(num_embeddings, embedding_dim)
        padding_idx = normalize_padding_idx(padding_idx, num_embeddings)
        centre = check_bool("centre", centre)
        dtype = check_dtype(dtype)
        device = check_device(device)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.centre = centre
        self.weight = nn.Parameter(
            torch.empty(num_embeddings, embedding_dim, dtype=dtype, device=device))
        init_table_(self.weight, "normal", padding_idx)

    @classmethod
    def from_config(cls, config: BinaryConfig, *,
                    device: torch.device | str | None = None) -> EagerBinaryEmbedding:
        return cls(**config.as_kwargs(), device=device)

    @property
    def dtype(self) -> torch.dtype:
        """The layer's dtype: that of its latent weight and of its output."""
        return self.weight.dtype

    def packed(self) -> PackedBinary:
        """The packed form of the current latent weight (S5), freshly computed."""
        return pack(self.weight, self.padding_idx, centre=self.centre)

    def forward_packed(self, input: torch.Tensor) -> torch.Tensor:
        """Look ``input`` up in :meth:`packed` (the whole table packed); no gradient.
        Bitwise equal to :meth:`forward`."""
        ids = check_ids(input, self.num_embeddings)
        flat = ids.reshape(-1).to(device=self.weight.device, dtype=torch.int64)
        with torch.no_grad():
            qweight, scale = self.packed()
            rows = dequantise(qweight.index_select(0, flat), scale.index_select(0, flat),
                              self.embedding_dim, self.dtype)
        return rows.view(*ids.shape, self.embedding_dim)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        ids = check_ids(input, self.num_embeddings)
        flat = ids.reshape(-1).to(device=self.weight.device, dtype=torch.int64)
        with torch.no_grad():
            is_padding = None if self.padding_idx is None else flat == self.padding_idx
            centre = table_centre(self.weight) if self.centre else None
            qweight, scale = pack_rows(self.weight.index_select(0, flat), is_padding, centre)
        function = _StraightThroughLookup if torch.compiler.is_compiling() \
            else _StraightThroughWithTangent
        out = function.apply(self.weight, flat, qweight, scale, self.padding_idx)
        return out.view(*ids.shape, self.embedding_dim)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.centre:
            text += ", centre=True"
        return text
