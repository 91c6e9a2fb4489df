"""Float elements decoded from drawn bytes: a tensor of ``n`` elements is one draw.

Drawing each element as a hypothesis float costs tens of microseconds; a table is a
hundred elements and a case holds several tensors, so per-element draws would dominate
the suite's time. Instead a tensor draws one byte string of :func:`code_size` bytes and
:func:`decode` turns each element's code (a kind byte, then a payload) into a value.
All-zero bytes decode to zeros, so a failing example still shrinks to small, round
values: a shrunk kind byte is ``0`` (a zero element), a shrunk payload the simplest value
of its kind.

``"moderate"`` codes: kind ``% 3`` is zero, positive or negative; the payload is an
exponent byte (``0`` is ``2**0``, then ``2**-1``, ``2**1``, ``2**-2``, ... within the
dtype's range) and the dtype's mantissa bits. ``"any"`` codes: kind ``% 4`` is a signed
zero, a special value of the dtype (the extremes, the smallest normal and subnormal,
``1`` and ``-1``), or the raw bits of the dtype (twice as often); raw bits that are not
finite get the lowest exponent bit cleared, which makes them the dtype's largest finite
exponent.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np
import torch

#: Stored mantissa bits per dtype name.
MANTISSA_BITS: Mapping[str, int] = {"float16": 10, "bfloat16": 7, "float32": 23, "float64": 52}
#: ``(bytes, unsigned numpy dtype, float numpy dtype)`` of the raw bits per dtype name
#: (bfloat16's 16 bits are the high half of a float32).
_RAW: Mapping[str, tuple[int, type, type]] = {
    "float16": (2, np.uint16, np.float16),
    "bfloat16": (2, np.uint16, np.float32),
    "float32": (4, np.uint32, np.float32),
    "float64": (8, np.uint64, np.float64),
}
#: Exponent bits per dtype name.
_EXPONENT_BITS: Mapping[str, int] = {"float16": 5, "bfloat16": 8, "float32": 8, "float64": 11}


def _mantissa_bytes(name: str) -> int:
    return math.ceil(MANTISSA_BITS[name] / 8)


def code_size(name: str, values: str) -> int:
    """Bytes of one element's code in dtype ``name`` for the ``values`` range."""
    if values == "moderate":
        return 2 + _mantissa_bytes(name)
    if values == "any":
        return 1 + _RAW[name][0]
    raise ValueError(f"values must be 'any' or 'moderate', got {values!r}")


@functools.cache
def exponent_order(low: float, high: float) -> np.ndarray:
    """The exponents of magnitudes in ``[low, high)``, simplest first: 0, -1, 1, -2, ...
    (read-only; computed once per range)."""
    lo, hi = math.ceil(math.log2(low)), math.floor(math.log2(high))
    order = np.array(sorted(range(lo, hi), key=lambda e: (abs(e), e > 0)), dtype=np.int64)
    order.flags.writeable = False
    return order


def _little_endian(codes: np.ndarray) -> np.ndarray:
    """Unsigned integers from columns of bytes, the first column the lowest byte."""
    total = np.zeros(codes.shape[0], dtype=np.uint64)
    for column in range(codes.shape[1]):
        total |= codes[:, column].astype(np.uint64) << np.uint64(8 * column)
    return total


def decode_moderate(codes: np.ndarray, name: str, low: float, high: float) -> np.ndarray:
    """Float64 values (exact in dtype ``name``) of ``(n, code_size)`` uint8 codes:
    zero, or a magnitude in ``[low, high)`` of either sign."""
    exponents = exponent_order(low, high)
    kind = codes[:, 0] % 3
    exponent = exponents[codes[:, 1] % len(exponents)]
    bits = MANTISSA_BITS[name]
    mantissa = _little_endian(codes[:, 2:]) >> np.uint64(8 * _mantissa_bytes(name) - bits)
    magnitude = np.ldexp(1.0 + mantissa.astype(np.float64) / 2.0**bits, exponent)
    sign = np.where(kind == 2, -1.0, 1.0)
    return np.where(kind == 0, 0.0, sign * magnitude)


@functools.cache
def _specials(name: str) -> np.ndarray:
    info = torch.finfo(getattr(torch, name))
    values = np.array((info.max, -info.max, info.tiny, -info.tiny,
                       info.smallest_normal * info.eps, -info.smallest_normal * info.eps,
                       1.0, -1.0), dtype=np.float64)
    values.flags.writeable = False
    return values


def decode_any(codes: np.ndarray, name: str) -> np.ndarray:
    """Values of ``(n, code_size)`` uint8 codes over every finite value of dtype
    ``name``, as numpy float16, float32 (float32 and bfloat16) or float64."""
    _, unsigned, floating = _RAW[name]
    raw = _little_endian(codes[:, 1:]).astype(unsigned)
    mantissa = MANTISSA_BITS[name]
    exponent_mask = unsigned(((1 << _EXPONENT_BITS[name]) - 1) << mantissa)
    not_finite = (raw & exponent_mask) == exponent_mask
    raw = np.where(not_finite, raw & ~unsigned(1 << mantissa), raw)
    if name == "bfloat16":
        values = (raw.astype(np.uint32) << np.uint32(16)).view(np.float32)
    else:
        values = raw.view(floating)
    kind = codes[:, 0] % 4
    zeros = np.where(codes[:, 1] & 1, -0.0, 0.0).astype(floating)
    specials = _specials(name)
    special = specials[codes[:, 1] % len(specials)].astype(floating)
    return np.where(kind == 0, zeros, np.where(kind == 1, special, values))


def decode(raw: bytes, count: int, name: str, values: str,
           moderate_range: tuple[float, float]) -> np.ndarray:
    """``count`` values of dtype ``name`` from ``raw`` (``count * code_size`` bytes)."""
    size = code_size(name, values)
    if len(raw) != count * size:
        raise ValueError(f"{count} {name} elements need {count * size} code bytes, "
                         f"got {len(raw)}")
    codes = np.frombuffer(raw, dtype=np.uint8).reshape(count, size)
    if values == "moderate":
        return decode_moderate(codes, name, *moderate_range)
    return decode_any(codes, name)
