"""Hypothesis strategies for index tensors: valid ones and the error inputs of S0.2/S0.3.

A valid index tensor is described by three independent choices, each drawn (and so
each shrinking on its own):

* its dtype: int32 or int64 (:data:`INDEX_DTYPE_NAMES`);
* its *layout* (:data:`INDEX_LAYOUTS`): ``contiguous`` (1-3 dims), ``scalar`` (0-d),
  ``empty`` (a zero-sized dimension), ``transposed`` (a transposed view) or
  ``strided`` (every other row of a larger tensor); the last two are never contiguous;
* its id *distribution* (:data:`ID_DISTRIBUTIONS`): ``uniform``, ``zipf`` (a few hot ids,
  the id counts following a Zipf law), ``duplicates`` (one id repeated everywhere) or
  ``ends`` (only ``0`` and ``V - 1``).

The ids themselves are drawn, not generated from a seed, so a failure shrinks to the
smallest tensor with the smallest ids that still fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from hypothesis import strategies as st

from .reuse import reused, sampled_from

INDEX_DTYPE_NAMES: tuple[str, ...] = ("int32", "int64")
"""The index dtypes every backend accepts (S0.2)."""
BAD_INDEX_DTYPE_NAMES: tuple[str, ...] = ("bool", "uint8", "int16", "float32")
"""Index dtypes that must raise ``TypeError`` (S0.2)."""
INDEX_LAYOUTS: tuple[str, ...] = ("contiguous", "scalar", "empty", "transposed", "strided")
NON_CONTIGUOUS_LAYOUTS: tuple[str, ...] = ("transposed", "strided")
ID_DISTRIBUTIONS: tuple[str, ...] = ("uniform", "zipf", "duplicates", "ends")
ZIPF_EXPONENT = 1.2
MAX_INDEX_NUMEL = 24

_INDEX_DTYPES = {"int32": torch.int32, "int64": torch.int64, "bool": torch.bool,
                 "uint8": torch.uint8, "int16": torch.int16, "float32": torch.float32}


def index_dtype(name: str) -> torch.dtype:
    """``"int32"`` -> ``torch.int32`` (for the names of both tuples above)."""
    try:
        return _INDEX_DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown index dtype name {name!r}; known: "
                         f"{', '.join(_INDEX_DTYPES)}") from None


def _check_choices(name: str, chosen: Sequence[str], known: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(chosen)
    unknown = [c for c in chosen if c not in known]
    if not chosen or unknown:
        raise ValueError(f"{name} must be a non-empty subset of {known}, got {chosen}")
    return chosen


@st.composite
def _bounded_shape(draw: st.DrawFn, min_dims: int, max_dims: int, min_side: int,
                   max_side: int, max_numel: int) -> tuple[int, ...]:
    dims = draw(st.integers(min_dims, max_dims))
    shape = [draw(st.integers(min_side, max_side)) for _ in range(dims)]
    while math.prod(shape) > max_numel:
        largest = max(range(dims), key=lambda i: shape[i])
        shape[largest] = max(min_side, shape[largest] - 1)
    return tuple(shape)


@reused
def index_shapes(layout: str, *, max_numel: int = MAX_INDEX_NUMEL) -> st.SearchStrategy:
    """Shapes an index tensor of ``layout`` can have (at most ``max_numel`` elements).

    ``transposed`` needs two trailing sides >= 2 and ``strided`` a first side >= 2, so
    that the view really is non-contiguous.
    """
    if layout == "contiguous":
        return _bounded_shape(1, 3, 1, 5, max_numel)
    if layout == "scalar":
        return st.just(())
    if layout == "empty":
        return _bounded_shape(1, 3, 0, 3, max_numel).flatmap(
            lambda s: st.integers(0, len(s) - 1).map(
                lambda axis: tuple(0 if i == axis else n for i, n in enumerate(s))))
    if layout == "transposed":
        return st.tuples(_bounded_shape(0, 1, 1, 2, 2), _bounded_shape(2, 2, 2, 4, 12)).map(
            lambda parts: parts[0] + parts[1])
    if layout == "strided":
        return st.tuples(st.integers(2, 4), _bounded_shape(0, 2, 1, 3, 6)).map(
            lambda parts: (parts[0], *parts[1]))
    raise ValueError(f"unknown layout {layout!r}; known: {', '.join(INDEX_LAYOUTS)}")


def zipf_counts(num_ids: int, total: int, exponent: float = ZIPF_EXPONENT) -> list[int]:
    """How many of ``total`` positions each of ``num_ids`` ranks gets under a Zipf law:
    rank ``k`` (0-based) has weight ``1 / (k + 1) ** exponent``. Each rank gets the floor
    of its share, and the positions left over go one each to the hottest ranks, so the
    counts never increase with the rank."""
    weights = [1.0 / (k + 1) ** exponent for k in range(num_ids)]
    norm = sum(weights)
    counts = [math.floor(total * w / norm) for w in weights]
    for rank in range(total - sum(counts)):
        counts[rank] += 1
    return counts


@reused
@st.composite
def _zipf_ids(draw: st.DrawFn, num_embeddings: int, count: int) -> list[int]:
    hot_order = draw(_orders(num_embeddings))
    ids = [hot_order[rank]
           for rank, n in enumerate(zipf_counts(num_embeddings, count)) for _ in range(n)]
    order = draw(_orders(count))
    return [ids[i] for i in order]


@reused
def id_lists(num_embeddings: int, distribution: str, count: int) -> st.SearchStrategy:
    """``count`` valid ids in ``[0, num_embeddings)`` following ``distribution``."""
    if num_embeddings < 1:
        if count:
            raise ValueError("no valid id exists when num_embeddings is 0")
        return st.just([])
    top = num_embeddings - 1
    if distribution == "uniform":
        return st.lists(st.integers(0, top), min_size=count, max_size=count)
    if distribution == "zipf":
        return _zipf_ids(num_embeddings, count)
    if distribution == "duplicates":
        return st.integers(0, top).map(lambda i: [i] * count)
    if distribution == "ends":
        return st.lists(sampled_from(tuple(sorted({0, top}))), min_size=count, max_size=count)
    raise ValueError(f"unknown id distribution {distribution!r}; known: "
                     f"{', '.join(ID_DISTRIBUTIONS)}")


def _materialise(ids: list[int], shape: tuple[int, ...], dtype: torch.dtype, layout: str,
                 num_embeddings: int) -> torch.Tensor:
    values = torch.tensor(ids, dtype=torch.int64)
    if layout == "transposed":
        swapped = (*shape[:-2], shape[-1], shape[-2])
        return values.reshape(swapped).to(dtype).transpose(-1, -2)
    if layout == "strided":
        # every other row of a tensor twice as long; the rows in between hold other valid ids
        rows = values.reshape(shape)
        filler = (num_embeddings - 1 - rows) if num_embeddings else rows
        wide = torch.stack([rows, filler], dim=1).reshape(2 * shape[0], *shape[1:])
        return wide.to(dtype)[::2]
    return values.reshape(shape).to(dtype)


class IndexDraw(NamedTuple):
    """What :func:`index_draws` drew: the tensor and the choices that made it."""

    tensor: torch.Tensor
    dtype: str
    layout: str
    distribution: str


def _flat_position(tensor: torch.Tensor, flat: int) -> tuple[int, ...]:
    position = []
    for size in reversed(tensor.shape):
        position.append(flat % size)
        flat //= size
    return tuple(reversed(position))


@reused
def _shapes_holding(layout: str, max_numel: int, count: int) -> st.SearchStrategy:
    """Shapes of :func:`index_shapes` with room for ``count`` elements."""
    return index_shapes(layout, max_numel=max_numel).filter(lambda s: math.prod(s) >= count)


@reused
def _distinct_positions(numel: int, count: int) -> st.SearchStrategy[list[int]]:
    """``count`` distinct flat positions of a tensor of ``numel`` elements."""
    return st.lists(st.integers(0, max(numel - 1, 0)), unique=True, min_size=count,
                    max_size=count)


@reused
def _orders(n: int) -> st.SearchStrategy[list[int]]:
    """A permutation of ``range(n)``."""
    return st.permutations(range(n))


@reused
@st.composite
def index_draws(draw: st.DrawFn, num_embeddings: int, *,
                dtypes: Sequence[str] = INDEX_DTYPE_NAMES,
                layouts: Sequence[str] = INDEX_LAYOUTS,
                distributions: Sequence[str] = ID_DISTRIBUTIONS,
                include: Sequence[int] = (),
                max_numel: int = MAX_INDEX_NUMEL) -> IndexDraw:
    """A valid index tensor for a table of ``num_embeddings`` rows, with its choices.

    ``include``: ids that must occur (each written at a drawn position; the tensor is
    then never empty). With ``num_embeddings == 0`` no id is valid and the tensor is
    always empty.
    """
    dtypes = _check_choices("dtypes", dtypes, INDEX_DTYPE_NAMES)
    layouts = _check_choices("layouts", layouts, INDEX_LAYOUTS)
    distributions = _check_choices("distributions", distributions, ID_DISTRIBUTIONS)
    include = tuple(include)
    if any(not 0 <= i < num_embeddings for i in include):
        raise ValueError(f"include={include} holds ids outside [0, {num_embeddings})")
    if include:
        unusable = ("empty", "scalar") if len(include) > 1 else ("empty",)
        layouts = tuple(layout for layout in layouts if layout not in unusable)
        if not layouts:
            raise ValueError("an index tensor that must include ids cannot be empty")
    if num_embeddings == 0:
        layouts = ("empty",)
    dtype = draw(sampled_from(dtypes))
    layout = draw(sampled_from(layouts))
    distribution = draw(sampled_from(distributions))
    shape = draw(_shapes_holding(layout, max_numel, len(include)))
    ids = draw(id_lists(num_embeddings, distribution, math.prod(shape)))
    tensor = _materialise(ids, shape, index_dtype(dtype), layout, num_embeddings)
    positions = draw(_distinct_positions(tensor.numel(), len(include)))
    for value, flat in zip(include, positions, strict=True):
        tensor[_flat_position(tensor, flat)] = value
    return IndexDraw(tensor, dtype, layout, distribution)


@reused
def index_tensors(num_embeddings: int, **choices: Sequence[str] | int) -> st.SearchStrategy:
    """A valid index tensor (see :func:`index_draws` for the keyword choices)."""
    return index_draws(num_embeddings, **choices).map(lambda d: d.tensor)


@reused
def out_of_range_ids(num_embeddings: int, dtype: str = "int64") -> st.SearchStrategy[int]:
    """Ids outside ``[0, num_embeddings)`` representable in ``dtype``: negative (``-1``
    among them), exactly ``num_embeddings``, or large."""
    top = torch.iinfo(index_dtype(dtype)).max
    return st.one_of(
        st.just(-1),
        st.integers(-top - 1, -1),
        st.just(num_embeddings),
        st.integers(num_embeddings, top),
    )


@reused
@st.composite
def out_of_range_index_tensors(draw: st.DrawFn, num_embeddings: int, *,
                               dtypes: Sequence[str] = INDEX_DTYPE_NAMES) -> torch.Tensor:
    """A non-empty index tensor of a valid dtype holding at least one id outside
    ``[0, num_embeddings)`` (S0.3); the other ids are valid (when any id is)."""
    layouts = ("contiguous", "scalar", "transposed", "strided")
    if num_embeddings == 0:
        shape = draw(index_shapes("contiguous"))
        dtype = draw(sampled_from(tuple(dtypes)))
        return torch.full(shape, draw(out_of_range_ids(0, dtype)), dtype=index_dtype(dtype))
    base = draw(index_draws(num_embeddings, dtypes=dtypes, layouts=layouts))
    tensor = base.tensor
    bad = draw(out_of_range_ids(num_embeddings, base.dtype))
    if tensor.dim() == 0:
        tensor.fill_(bad)
        return tensor
    tensor[_flat_position(tensor, draw(st.integers(0, tensor.numel() - 1)))] = bad
    return tensor


@reused
@st.composite
def bad_dtype_index_tensors(draw: st.DrawFn, num_embeddings: int, *,
                            dtypes: Sequence[str] = BAD_INDEX_DTYPE_NAMES) -> torch.Tensor:
    """An index tensor whose ids would be valid but whose dtype is not int32/int64
    (bool, uint8, int16, float32): ``TypeError`` (S0.2)."""
    dtype = draw(sampled_from(tuple(dtypes)))
    layouts = ("contiguous", "scalar") if num_embeddings else ("empty",)
    valid = draw(index_tensors(num_embeddings, layouts=layouts, dtypes=("int64",)))
    if dtype == "bool":
        return valid.remainder(2).to(torch.bool)
    return valid.to(index_dtype(dtype))
