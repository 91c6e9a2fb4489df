"""Hypothesis strategies for float data: tables, layer states and output gradients.

Every element is drawn (no seeded generator), so failures shrink to small, round
values; a tensor's elements are decoded from one drawn byte string
(:mod:`.element_codes`). Two value ranges exist:

* ``"any"``: every finite value of the dtype, subnormals and the extremes included.
  For checks that involve no arithmetic (gathers must return stored bits, S0.7).
* ``"moderate"``: zero, or a magnitude in :data:`MODERATE_RANGES` of either sign. For
  checks that compute (norms, layer norms, gradients, scales), where underflow and
  overflow would test the dtype rather than the layer.

Tables additionally scale each row by a drawn power of two from :data:`ROW_SCALES`
(zero included), so rows far below and far above any ``max_norm`` and all-zero rows
(``+0.0`` and ``-0.0``) occur in small draws.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from embedspec.backends.contract import DTYPES
from embedspec.conformance.checks.expected import state_layout
from embedspec.reference.configs import LayerConfig
from hypothesis import strategies as st

from .element_codes import code_size, decode
from .reuse import reused, sampled_from

DTYPE_NAMES: tuple[str, ...] = tuple(DTYPES)
"""The floating dtype names tests are parametrized over: float32, float64, float16, bfloat16."""
VALUE_RANGES: tuple[str, ...] = ("any", "moderate")
#: ``(smallest, largest)`` non-zero magnitude of ``"moderate"`` values per dtype.
MODERATE_RANGES: Mapping[str, tuple[float, float]] = {
    "float16": (2.0**-6, 2.0**6),
    "bfloat16": (2.0**-6, 2.0**6),
    "float32": (2.0**-16, 2.0**16),
    "float64": (2.0**-30, 2.0**30),
}
#: Per-row factors of drawn tables: exact in every dtype.
ROW_SCALES: tuple[float, ...] = (1.0, 0.0, 2.0**-4, 2.0**4)

_WIDTHS = {"float16": 16, "float32": 32, "float64": 64, "bfloat16": 32}
_BFLOAT16_MAX = float(torch.finfo(torch.bfloat16).max)


def torch_dtype(name: str) -> torch.dtype:
    """``"float16"`` -> ``torch.float16``."""
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype name {name!r}; known: {', '.join(DTYPES)}") from None


def _dtype_name(dtype: str | torch.dtype) -> str:
    name = str(dtype).removeprefix("torch.") if isinstance(dtype, torch.dtype) else dtype
    torch_dtype(name)
    return name


_FLOAT32 = struct.Struct("<f")
_UINT32 = struct.Struct("<I")


def to_bfloat16(value: float) -> float:
    """The bfloat16 value nearest a finite float32 ``value`` (ties to even): what
    ``torch.tensor(value).to(torch.bfloat16)`` gives, on the bits, without building
    tensors (it runs once per drawn element)."""
    bits = _UINT32.unpack(_FLOAT32.pack(value))[0]
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return _FLOAT32.unpack(_UINT32.pack(bits))[0]


@reused
def finite_values(dtype: str | torch.dtype, values: str = "moderate") -> st.SearchStrategy:
    """Python floats exactly representable in ``dtype``, from the ``values`` range."""
    name = _dtype_name(dtype)
    width = _WIDTHS[name]
    if values == "any":
        top = _BFLOAT16_MAX if name == "bfloat16" else None
        strategy = st.floats(width=width, allow_nan=False, allow_infinity=False,
                             min_value=-top if top else None, max_value=top)
    elif values == "moderate":
        low, high = MODERATE_RANGES[name]
        magnitude = st.floats(min_value=low, max_value=high, width=width)
        strategy = st.one_of(st.just(0.0), magnitude, magnitude.map(lambda x: -x))
    else:
        raise ValueError(f"values must be one of {VALUE_RANGES}, got {values!r}")
    return strategy.map(to_bfloat16) if name == "bfloat16" else strategy


@reused
def float_tensors(shape: Sequence[int], dtype: str | torch.dtype,
                  values: str = "moderate") -> st.SearchStrategy[torch.Tensor]:
    """A tensor of ``shape`` and ``dtype``, every element drawn from ``values`` (the
    values :func:`finite_values` draws one at a time; here one byte string per tensor,
    :mod:`.element_codes`)."""
    name = _dtype_name(dtype)
    if values not in VALUE_RANGES:
        raise ValueError(f"values must be one of {VALUE_RANGES}, got {values!r}")
    shape = tuple(shape)
    count = math.prod(shape)
    size = count * code_size(name, values)
    moderate = MODERATE_RANGES[name]

    def build(raw: bytes) -> torch.Tensor:
        array = decode(raw, count, name, values, moderate).reshape(shape)
        return torch.from_numpy(np.ascontiguousarray(array)).to(torch_dtype(name))

    return st.binary(min_size=size, max_size=size).map(build)


@reused
def _row_scale_lists(row_scales: tuple[float, ...], rows: int) -> st.SearchStrategy[list]:
    return st.lists(sampled_from(row_scales), min_size=rows, max_size=rows)


@reused
@st.composite
def tables(draw: st.DrawFn, num_embeddings: int, embedding_dim: int,
           dtype: str | torch.dtype, values: str = "moderate", *,
           row_scales: Sequence[float] = ROW_SCALES) -> torch.Tensor:
    """A ``(V, D)`` table of drawn elements; with ``"moderate"`` values each row is then
    scaled by one of ``row_scales`` (``"any"`` values are used as drawn)."""
    table = draw(float_tensors((num_embeddings, embedding_dim), dtype, values))
    if values == "moderate" and num_embeddings and len(row_scales) > 1:
        scales = draw(_row_scale_lists(tuple(row_scales), num_embeddings))
        table = table * torch.tensor(scales, dtype=table.dtype).unsqueeze(1)
    return table


@reused
def grad_outputs(shape: Sequence[int], dtype: str | torch.dtype) -> st.SearchStrategy:
    """An output gradient of ``shape``: moderate values, exact zeros included."""
    return float_tensors(shape, dtype, "moderate")


def grad_outputs_for(config: LayerConfig, indices: torch.Tensor) -> st.SearchStrategy:
    """An output gradient for looking ``indices`` up in ``config``'s layer: shape
    ``indices.shape + (D,)`` in the layer's dtype."""
    return grad_outputs((*indices.shape, config.embedding_dim), config.dtype)


@reused
@st.composite
def states(draw: st.DrawFn, config: LayerConfig, values: str = "moderate") -> dict:
    """A full state dict for ``config``'s layer, laid out like the reference layer's.

    The embedding table (``weight``) is drawn with :func:`tables`; every other floating
    entry (a stable layer's ``norm.weight`` and ``norm.bias``) element by element, with
    values of the layer's dtype (so that a float16 layer's float32 norm parameters do
    not overflow its float16 output).
    """
    state = {}
    for key, (shape, dtype) in state_layout(config).items():
        if key == "weight" and len(shape) == 2:
            state[key] = draw(tables(shape[0], shape[1], dtype, values))
        else:
            state[key] = draw(float_tensors(shape, config.dtype, values)).to(dtype)
    return state


@st.composite
def tangents_for(draw: st.DrawFn, config: LayerConfig) -> dict:
    """A direction for every floating state entry of ``config``'s layer, laid out like
    its state (a forward-mode tangent, or the direction of a double backward): moderate
    values of the layer's dtype, exact zeros included."""
    return {key: draw(float_tensors(shape, config.dtype, "moderate"), label=f"tangent {key}")
            .to(dtype) for key, (shape, dtype) in state_layout(config).items()
            if dtype.is_floating_point}


#: Rows whose norm is exact in every dtype, with that norm, per ``norm_type``.
EXACT_NORM_ROWS: Mapping[float, tuple[tuple[float, float], float]] = {
    1.0: ((1.0, -2.0), 3.0),
    2.0: ((3.0, -4.0), 5.0),
    math.inf: ((-5.0, 2.0), 5.0),
}


@st.composite
def exact_norm_rows(draw: st.DrawFn, embedding_dim: int, dtype: torch.dtype,
                    norm_type: float) -> tuple[torch.Tensor, float]:
    """A row of ``embedding_dim >= 2`` columns whose ``norm_type``-norm is exact in every
    dtype, and that norm: two scaled values of :data:`EXACT_NORM_ROWS` at drawn columns,
    zeros elsewhere (for the strict ``norm > max_norm`` boundary of S1.2)."""
    values, norm = EXACT_NORM_ROWS[norm_type]
    scale = 2.0 ** draw(st.integers(-2, 2), label="power_of_two")
    columns = draw(st.permutations(range(embedding_dim)), label="columns")
    row = torch.zeros(embedding_dim, dtype=dtype)
    row[list(columns[:2])] = torch.tensor(values, dtype=dtype) * scale
    return row, norm * scale
