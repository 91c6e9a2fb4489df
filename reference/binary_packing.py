"""The packed form of a binary embedding table (spec S5): ``pack`` and ``unpack``.

The packed form of a latent float table ``w`` of shape ``(V, D)`` is a
:class:`PackedBinary` ``(qweight, scale)``:

* ``qweight``: uint8, shape ``(V, ceil(D / 8))``. The bit of element ``(r, c)`` is
  ``w[r, c] >= 0`` (so ``0`` and ``-0.0`` count as ``+1``; NaN counts as ``-1``),
  stored least-significant-bit first along D: element ``8j + i`` of a row is bit ``i``
  (value ``2**i``) of byte ``j``. The unused high bits of the last byte of every row
  (the ``8 * ceil(D / 8) - D`` bits past column ``D - 1``) are zero. This layout is
  normative: a table packed by one backend unpacks identically in every other.
* ``scale``: float32, shape ``(V,)``. ``scale[r]`` is the mean of ``|w[r, c]|`` over the
  ``D`` real columns only (never over the unused bits), computed in float64 and
  rounded once to float32. With ``D = 0`` every scale is ``0``. Being a mean, the
  scale is an accumulation: backends may differ from it by summation order within the
  S0.7 tolerance, whereas ``qweight`` is exact.
* The padding row, if any, is packed as if its latent row were zero, whatever it
  stores: every real bit ``1`` and scale ``0``. Its embedding is therefore exactly
  ``+0.0`` in every column, for every ``D`` (``D % 8 != 0`` included).

Centring (``centre=True``, off by default): let ``m`` be the mean of all ``V * D``
entries of the table as stored (the padding row included), computed in float64
(``m = 0`` for an empty table). The table is packed as ``w - m`` evaluated in float64:
the bit of an element is ``w >= m`` and the scale of a row is the float64 mean of
``|w - m|`` over its D columns, rounded to float32. The padding row is still packed as
zero (it does not take the value ``-m``).

The dequantised table is ``unpack(qweight, D) * scale[:, None]``: each entry is
``+scale[r]`` or ``-scale[r]``.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import torch

from .validation import check_weight, normalize_padding_idx

BITS_PER_BYTE = 8
_BIT_WEIGHTS = tuple(1 << i for i in range(BITS_PER_BYTE))


class PackedBinary(NamedTuple):
    """A packed binary table: ``qweight`` uint8 ``(V, ceil(D/8))``, ``scale`` float32 ``(V,)``."""

    qweight: torch.Tensor
    scale: torch.Tensor


def packed_dim(embedding_dim: int) -> int:
    """Bytes per packed row: ``ceil(embedding_dim / 8)``."""
    return -(-embedding_dim // BITS_PER_BYTE)


def check_embedding_dim(embedding_dim: object, qweight: torch.Tensor) -> int:
    """``embedding_dim`` must be an integer ``>= 0`` whose ``ceil(D / 8)`` is the byte count."""
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, numbers.Integral):
        raise ValueError(f"embedding_dim must be an integer, got {embedding_dim!r}")
    dim = int(embedding_dim)
    if dim < 0:
        raise ValueError(f"embedding_dim must be >= 0, got {dim}")
    if packed_dim(dim) != qweight.shape[1]:
        raise ValueError(
            f"embedding_dim={dim} needs {packed_dim(dim)} bytes per row, "
            f"but qweight has {qweight.shape[1]}"
        )
    return dim


def check_qweight(qweight: object, embedding_dim: object, name: str = "qweight") -> int:
    """Validate a packed table and its ``embedding_dim``; return ``embedding_dim`` as an int.

    ``ValueError`` unless ``qweight`` is a 2-D uint8 tensor, ``embedding_dim`` is an
    integer ``>= 0`` with ``ceil(embedding_dim / 8) == qweight.shape[1]``, and every
    unused high bit of the last byte of every row is zero.
    """
    if not isinstance(qweight, torch.Tensor):
        raise ValueError(f"{name} must be a 2-D uint8 tensor, got {type(qweight).__name__}")
    if qweight.dtype != torch.uint8:
        raise ValueError(f"{name} must have dtype uint8, got {qweight.dtype}")
    if qweight.dim() != 2:
        raise ValueError(f"{name} must be 2-D (num_embeddings, ceil(embedding_dim / 8)), "
                         f"got shape {tuple(qweight.shape)}")
    dim = check_embedding_dim(embedding_dim, qweight)
    used = dim % BITS_PER_BYTE
    if used and qweight.shape[0] > 0:
        unused_mask = (0xFF << used) & 0xFF
        stray = (qweight[:, -1] & unused_mask) != 0
        if bool(stray.any()):
            row = int(stray.nonzero()[0, 0])
            raise ValueError(
                f"{name} row {row} has nonzero unused bits in its last byte "
                f"(embedding_dim={dim} uses only the low {used} bits)"
            )
    return dim


def pack(weight: torch.Tensor, padding_idx: int | None = None, *,
         centre: bool = False) -> PackedBinary:
    """Pack a latent float table ``(V, D)`` into its binary form (S5; layout in the module doc).

    ``padding_idx`` follows S1.1 (``[-V, V-1]``, negative values count from the end);
    that row is packed as zero: real bits all ``1``, scale ``0``. ``centre=True``
    packs ``w - mean(w)`` as the module doc states. The weight is only read (never
    modified, never part of an autograd graph) and the result lives on its device.

    ``ValueError`` for a weight that is not a 2-D floating-point tensor, a bad
    ``padding_idx`` or a non-bool ``centre``.
    """
    weight = check_weight(weight)
    padding_idx = normalize_padding_idx(padding_idx, weight.shape[0])
    if not isinstance(centre, bool):
        raise ValueError(f"centre must be a bool, got {centre!r}")
    with torch.no_grad():
        table = weight.detach().to(torch.float64)
        if centre and table.numel() > 0:
            table = table - table.mean()
        bits = table >= 0
        embedding_dim = table.shape[1]
        # The mean over zero columns is defined as 0, not NaN.
        scale = table.abs().sum(dim=1) / max(embedding_dim, 1)
        scale = scale.to(torch.float32)
        if padding_idx is not None:
            bits[padding_idx] = True
            scale[padding_idx] = 0.0
        return PackedBinary(pack_bits(bits), scale)


def pack_bits(bits: torch.Tensor) -> torch.Tensor:
    """Pack a bool table ``(V, D)`` LSB-first into uint8 ``(V, ceil(D/8))``, unused bits zero."""
    num_rows, dim = bits.shape
    width = packed_dim(dim)
    padded = bits.new_zeros((num_rows, width * BITS_PER_BYTE))
    padded[:, :dim] = bits
    weights = torch.tensor(_BIT_WEIGHTS, dtype=torch.uint8, device=bits.device)
    grouped = padded.reshape(num_rows, width, BITS_PER_BYTE).to(torch.uint8)
    return (grouped * weights).sum(dim=2, dtype=torch.uint8)


def unpack_bits(qweight: torch.Tensor, embedding_dim: int) -> torch.Tensor:
    """The bool table ``(..., embedding_dim)`` of a packed one ``(..., ceil(D/8))``; no checks."""
    shifts = torch.arange(BITS_PER_BYTE, dtype=torch.uint8, device=qweight.device)
    bits = (qweight.unsqueeze(-1) >> shifts) & 1
    bits = bits.reshape(*qweight.shape[:-1], qweight.shape[-1] * BITS_PER_BYTE)
    return bits[..., :embedding_dim].bool()


def signs_from_bits(bits: torch.Tensor) -> torch.Tensor:
    """``+1.0`` where a bit is set, ``-1.0`` elsewhere, as float32."""
    ones = torch.ones((), dtype=torch.float32, device=bits.device)
    return torch.where(bits, ones, -ones)


def unpack(qweight: torch.Tensor, embedding_dim: int) -> torch.Tensor:
    """The ``±1`` float32 table ``(V, embedding_dim)`` of a packed ``qweight`` (S5).

    Entry ``(r, c)`` is ``+1.0`` if bit ``c % 8`` of byte ``c // 8`` of row ``r`` is set,
    else ``-1.0``. Strict about the layout: ``ValueError`` unless ``qweight`` is a 2-D
    uint8 tensor whose width is ``ceil(embedding_dim / 8)`` and whose unused high bits
    are all zero (nonzero unused bits mean the table was not packed by the S5 rule).
    """
    dim = check_qweight(qweight, embedding_dim)
    return signs_from_bits(unpack_bits(qweight, dim))
