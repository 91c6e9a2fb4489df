"""Hypothesis strategies for the configurations of the single-process families.

Valid configurations (:func:`embedding_configs`, :func:`stable_configs`,
:func:`binary_configs`) have every optional feature *off* unless asked for, so that a
test tagged with one feature exercises only that feature (a backend declaring
``forward`` but not ``max_norm`` is not failed by a forward test). Each option takes
``True`` (always on, with a drawn value), ``False`` (off) or ``None`` (drawn: on or off);
``max_norm`` also takes a float (on, with that value).

Invalid configurations break one validation rule of :data:`CONFIG_RULES`
(:func:`rule_breaking_configs`, or any rule: :func:`invalid_configs`) and come with the
argument that the ``ValueError`` must name (S0.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    LayerConfig,
    StableEmbeddingConfig,
)
from hypothesis import strategies as st

from .reuse import reused, sampled_from
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


@reused
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


@reused
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


@reused
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


@reused
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


@reused
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


Breaker = Callable[[st.DrawFn, LayerConfig], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class ConfigRule:
    """One validation rule of the spec (S0.5, S1.1, S1.2, S1.4, S5): the families that
    have it and how to break it: ``breaker(draw, good_config)`` returns the argument the
    ``ValueError`` must name and the changes that make ``good_config`` break the rule
    (and only that rule)."""

    name: str
    rule: str
    families: tuple[str, ...]
    breaker: Breaker


def _one_of(argument: str, values: Sequence[Any], **also: Any) -> Breaker:
    def breaker(draw: st.DrawFn, config: LayerConfig) -> tuple[str, dict[str, Any]]:
        return argument, {argument: draw(sampled_from(values)), **also}
    return breaker


def _padding_out_of_range(draw: st.DrawFn, config: LayerConfig) -> tuple[str, dict[str, Any]]:
    rows = config.num_embeddings
    value = draw(st.one_of(st.just(rows), st.integers(rows, rows + 100), st.just(-rows - 1),
                           st.integers(-rows - 100, -rows - 1)))
    return "padding_idx", {"padding_idx": value}


def _size(values: Sequence[Any]) -> Breaker:
    def breaker(draw: st.DrawFn, config: LayerConfig) -> tuple[str, dict[str, Any]]:
        argument = draw(sampled_from(("num_embeddings", "embedding_dim")))
        return argument, {argument: draw(sampled_from(values))}
    return breaker


def _flag_not_bool(draw: st.DrawFn, config: LayerConfig) -> tuple[str, dict[str, Any]]:
    argument = draw(sampled_from(("sparse", "scale_grad_by_freq")))
    return argument, {argument: draw(sampled_from((1, 0, "yes", None)))}


ALL = ("embedding", "stable", "binary")
LOOKUP = ("embedding", "stable")

#: Every validation rule of the single-process families, by name: one conformance test
#: each, so that a backend breaking one rule fails that rule's test alone.
CONFIG_RULES: Mapping[str, ConfigRule] = {r.name: r for r in (
    ConfigRule("padding_idx_range", "S1.1", ALL, _padding_out_of_range),
    ConfigRule("padding_idx_type", "S1.1", ALL, _one_of("padding_idx", (1.5, "0", 0.0))),
    ConfigRule("padding_idx_bool", "S1.1", ALL, _one_of("padding_idx", (True, False))),
    ConfigRule("size_negative", "S0.5", ALL, _size((-1, -2, -5))),
    ConfigRule("size_type", "S0.5", ALL, _size((2.5, "3", True))),
    ConfigRule("dtype_not_float", "S0.5", ALL,
               _one_of("dtype", (torch.int64, torch.int32, torch.bool, "float32"))),
    ConfigRule("max_norm_negative", "S1.2", LOOKUP,
               _one_of("max_norm", (-1.0, -1e-3, -math.inf))),
    ConfigRule("max_norm_not_finite", "S1.2", LOOKUP, _one_of("max_norm", (math.inf, math.nan))),
    ConfigRule("norm_type_not_positive", "S1.2", LOOKUP,
               _one_of("norm_type", (0.0, -1.0, -math.inf), max_norm=1.0)),
    ConfigRule("norm_type_nan", "S1.2", LOOKUP, _one_of("norm_type", (math.nan,), max_norm=1.0)),
    ConfigRule("sparse_with_scale_grad_by_freq", "S1.4", LOOKUP,
               _one_of("sparse", (True,), scale_grad_by_freq=True)),
    ConfigRule("flag_not_bool", "S0.5", LOOKUP, _flag_not_bool),
    ConfigRule("init_unknown", "S1.7", LOOKUP,
               _one_of("init", ("uniform", "Normal", "", "xavier"))),
    ConfigRule("centre_not_bool", "S5", ("binary",), _one_of("centre", (1, "yes", None))),
)}


def rules_of(family: str) -> list[ConfigRule]:
    """The rules of :data:`CONFIG_RULES` that ``family`` has."""
    return [r for r in CONFIG_RULES.values() if family in r.families]


@reused
@st.composite
def rule_breaking_configs(draw: st.DrawFn, family: str, rule: str,
                          dtype: str = "float32") -> InvalidConfig:
    """A configuration of ``family`` that breaks ``rule`` (a name of
    :data:`CONFIG_RULES`) and no other."""
    found = CONFIG_RULES[rule]
    if family not in found.families:
        raise ValueError(f"family {family!r} has no rule {rule!r}")
    good = draw(configs(family, dtype))
    argument, changes = found.breaker(draw, good)
    problem = ", ".join(f"{k}={v!r}" for k, v in changes.items())
    return InvalidConfig(good.replace(**changes), argument, problem)


@reused
@st.composite
def invalid_configs(draw: st.DrawFn, family: str, dtype: str = "float32") -> InvalidConfig:
    """A configuration of ``family`` breaking one of its rules of :data:`CONFIG_RULES`."""
    rule = draw(sampled_from(tuple(r.name for r in rules_of(family))))
    return draw(rule_breaking_configs(family, rule, dtype))
