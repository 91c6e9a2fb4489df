"""Hypothesis strategies for the configurations of the single-process families.

Valid configurations (:func:`embedding_configs`, :func:`stable_configs`,
:func:`binary_configs`) have every optional feature *off* unless asked for, so that a
test tagged with one feature exercises only that feature (a backend declaring
``forward`` but not ``max_norm`` is not failed by a forward test). Each option takes
``True`` (always on, with a drawn value), ``False`` (off) or ``None`` (drawn: on or off);
``max_norm`` also takes a float (on, with that value).

Invalid configurations (:func:`invalid_configs`) come with the argument that the
``ValueError`` must name (S0.5).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    LayerConfig,
    StableEmbeddingConfig,
)
from hypothesis import strategies as st

from .tensors import torch_dtype

SINGLE_PROCESS_FAMILIES: tuple[str, ...] = ("embedding", "stable", "binary")
#: ``max_norm`` values: exactly 0 (zeroes referenced rows), round values and any in [0, 16].
MAX_NORMS = st.one_of(st.sampled_from((1.0, 0.0, 0.5, 2.0, 5.0)),
                      st.floats(min_value=0.0, max_value=16.0))
#: ``norm_type`` values (S1.2): any p > 0, ``inf`` included.
NORM_TYPES = st.one_of(st.sampled_from((2.0, 1.0, 3.0, 0.5, math.inf)),
                       st.floats(min_value=0.25, max_value=6.0))
SMALL_VOCAB = st.integers(1, 12)
SMALL_DIM = st.integers(1, 9)
#: Binary embedding dims: mostly not a multiple of 8, with 8 and 16 included.
BINARY_DIM = st.one_of(st.integers(1, 20), st.sampled_from((8, 16)))


def _toggle(draw: st.DrawFn, option: bool | None) -> bool:
    return draw(st.booleans()) if option is None else bool(option)


def padding_indices(num_embeddings: int) -> st.SearchStrategy[int]:
    """Valid padding indices: ``[-V, V-1]`` (S1.1), negatives included."""
    return st.integers(-num_embeddings, num_embeddings - 1)


@st.composite
def _lookup_options(draw: st.DrawFn, num_embeddings: int, *, padding: bool | None,
                    max_norm: bool | float | None, scale_grad_by_freq: bool | None,
                    sparse: bool | None) -> dict:
    if scale_grad_by_freq and sparse:
        raise ValueError("sparse and scale_grad_by_freq cannot both be on (S1.4)")
    options: dict = {}
    if _toggle(draw, padding) and num_embeddings:
        options["padding_idx"] = draw(padding_indices(num_embeddings))
    if isinstance(max_norm, float):
        options["max_norm"] = max_norm
        options["norm_type"] = draw(NORM_TYPES)
    elif _toggle(draw, max_norm):
        options["max_norm"] = draw(MAX_NORMS)
        options["norm_type"] = draw(NORM_TYPES)
    freq = _toggle(draw, scale_grad_by_freq)
    options["scale_grad_by_freq"] = freq
    options["sparse"] = False if freq else _toggle(draw, sparse)
    return options


@st.composite
def embedding_configs(draw: st.DrawFn, dtype: str = "float32", *,
                      padding: bool | None = False, max_norm: bool | float | None = False,
                      scale_grad_by_freq: bool | None = False, sparse: bool | None = False,
                      init: str = "normal",
                      num_embeddings: st.SearchStrategy[int] = SMALL_VOCAB,
                      embedding_dim: st.SearchStrategy[int] = SMALL_DIM) -> EmbeddingConfig:
    """A valid :class:`EmbeddingConfig` in ``dtype`` (a dtype name)."""
    rows = draw(num_embeddings)
    options = draw(_lookup_options(rows, padding=padding, max_norm=max_norm,
                                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse))
    return EmbeddingConfig(num_embeddings=rows, embedding_dim=draw(embedding_dim), init=init,
                           dtype=torch_dtype(dtype), **options)


@st.composite
def stable_configs(draw: st.DrawFn, dtype: str = "float32", *,
                   padding: bool | None = False, max_norm: bool | float | None = False,
                   init: str = "xavier_uniform",
                   num_embeddings: st.SearchStrategy[int] = SMALL_VOCAB,
                   embedding_dim: st.SearchStrategy[int] = SMALL_DIM) -> StableEmbeddingConfig:
    """A valid :class:`StableEmbeddingConfig` in ``dtype`` (no sparse or frequency
    scaling: the stable family has no such features)."""
    rows = draw(num_embeddings)
    options = draw(_lookup_options(rows, padding=padding, max_norm=max_norm,
                                   scale_grad_by_freq=False, sparse=False))
    return StableEmbeddingConfig(num_embeddings=rows, embedding_dim=draw(embedding_dim),
                                 init=init, dtype=torch_dtype(dtype), **options)


@st.composite
def binary_configs(draw: st.DrawFn, dtype: str = "float32", *,
                   padding: bool | None = False, centre: bool | None = False,
                   num_embeddings: st.SearchStrategy[int] = SMALL_VOCAB,
                   embedding_dim: st.SearchStrategy[int] = BINARY_DIM) -> BinaryConfig:
    """A valid :class:`BinaryConfig` in ``dtype``."""
    rows = draw(num_embeddings)
    padding_idx = draw(padding_indices(rows)) if _toggle(draw, padding) else None
    return BinaryConfig(num_embeddings=rows, embedding_dim=draw(embedding_dim),
                        padding_idx=padding_idx, centre=_toggle(draw, centre),
                        dtype=torch_dtype(dtype))


CONFIG_STRATEGIES = {
    "embedding": embedding_configs,
    "stable": stable_configs,
    "binary": binary_configs,
}


def configs(family: str, dtype: str = "float32", **options: object) -> st.SearchStrategy:
    """A valid configuration of ``family`` (one of :data:`SINGLE_PROCESS_FAMILIES`)."""
    try:
        strategy = CONFIG_STRATEGIES[family]
    except KeyError:
        raise ValueError(f"unknown single-process family {family!r}; known: "
                         f"{', '.join(CONFIG_STRATEGIES)}") from None
    return strategy(dtype, **options)


class InvalidConfig(NamedTuple):
    """A configuration that must raise ``ValueError`` naming ``argument`` (S0.5)."""

    config: LayerConfig
    argument: str
    problem: str


def _bad_padding(rows: int) -> st.SearchStrategy:
    out_of_range = st.one_of(st.just(rows), st.integers(rows, rows + 100),
                             st.just(-rows - 1), st.integers(-rows - 100, -rows - 1))
    not_integer = st.sampled_from((1.5, "0", True, 0.0))
    return st.one_of(out_of_range.map(lambda p: (p, "out of [-V, V-1]")),
                     not_integer.map(lambda p: (p, "not an integer")))


_BAD_MAX_NORMS = st.sampled_from((-1.0, -1e-3, -math.inf, math.inf, math.nan))
_BAD_NORM_TYPES = st.sampled_from((0.0, -1.0, -math.inf, math.nan))
_BAD_SIZES = st.one_of(st.integers(-5, -1), st.just(2.5))


@st.composite
def invalid_configs(draw: st.DrawFn, family: str, dtype: str = "float32") -> InvalidConfig:
    """A configuration of ``family`` with exactly one bad argument.

    Every family: ``padding_idx`` out of ``[-V, V-1]`` or not an integer, a negative or
    non-integer ``num_embeddings``/``embedding_dim``. Embedding and stable also: a
    negative, infinite or NaN ``max_norm``, ``norm_type <= 0`` or NaN, ``sparse`` with
    ``scale_grad_by_freq``. Binary also: a non-bool ``centre``.
    """
    good = draw(configs(family, dtype))
    rows = good.num_embeddings
    kinds = ["padding_idx", "num_embeddings", "embedding_dim"]
    if family in ("embedding", "stable"):
        kinds += ["max_norm", "norm_type", "sparse"]
    if family == "binary":
        kinds.append("centre")
    kind = draw(st.sampled_from(kinds))
    if kind == "padding_idx":
        value, problem = draw(_bad_padding(rows))
        return InvalidConfig(good.replace(padding_idx=value), "padding_idx", problem)
    if kind in ("num_embeddings", "embedding_dim"):
        value = draw(_BAD_SIZES)
        return InvalidConfig(good.replace(**{kind: value}), kind, f"{kind}={value!r}")
    if kind == "max_norm":
        value = draw(_BAD_MAX_NORMS)
        return InvalidConfig(good.replace(max_norm=value), "max_norm", f"max_norm={value!r}")
    if kind == "norm_type":
        value = draw(_BAD_NORM_TYPES)
        return InvalidConfig(good.replace(max_norm=1.0, norm_type=value), "norm_type",
                             f"norm_type={value!r}")
    if kind == "sparse":
        return InvalidConfig(good.replace(sparse=True, scale_grad_by_freq=True), "sparse",
                             "sparse with scale_grad_by_freq")
    value = draw(st.sampled_from((1, "yes", None)))
    return InvalidConfig(good.replace(centre=value), "centre", f"centre={value!r}")
