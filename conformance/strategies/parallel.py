"""Hypothesis strategies for the multi-rank families: vocab_parallel and sharded.

A multi-rank check draws, in this order: one of the worlds the plugin gave the test
(:func:`world_draws`), a configuration that fits that world's model-parallel size, one
full table (the single draw every rank's shard is cut from), the per-process inputs
and, for backward checks, the per-process output gradients.
:func:`vocab_parallel_cases` and :func:`sharded_cases` draw all of it as the
:class:`~embedspec.conformance.checks.case.Case` every process runs (through a
:class:`~embedspec.conformance.checks.states.Scenario`).

Per-process data follows the process order of :class:`~embedspec.conformance.checks.case.World`
(``proc = dp_rank * world.size + rank``): the model-parallel ranks of one replica see
the *same* indices (they compute one layer together); data-parallel replicas see
*different* indices (each replica has its own batch). Output gradients are drawn per
process, so a backend that hands a rank another rank's gradient fails.

Configuration options follow :mod:`.configs`: every optional feature is off unless
asked for, so a test tagged with one feature exercises only that feature. Dtypes are
given by name (``"float32"``), as tests are parametrized.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from embedspec.conformance.checks.case import Case, World
from embedspec.conformance.checks.states import Scenario, forward_case, output_widths
from embedspec.reference.configs import ShardedConfig, VocabParallelConfig
from hypothesis import strategies as st

from .configs import MAX_NORMS, NORM_TYPES, padding_indices
from .indices import (
    INDEX_LAYOUTS,
    bad_dtype_index_tensors,
    index_tensors,
    out_of_range_index_tensors,
)
from .reuse import reused, sampled_from
from .tensors import grad_outputs, tables, torch_dtype

__all__ = [
    "PADDING_SIZES",
    "invalid_sharded_configs",
    "invalid_vocab_parallel_configs",
    "process_grad_outputs",
    "process_inputs",
    "sharded_cases",
    "sharded_configs",
    "sharded_scenarios",
    "uneven_even_configs",
    "vocab_parallel_cases",
    "vocab_parallel_configs",
    "vocab_parallel_scenarios",
    "world_draws",
]

#: ``padding_size`` values drawn for vocab-parallel layers (64 is upstream's default).
PADDING_SIZES: tuple[int, ...] = (64, 1, 2, 3, 4, 8)
#: What a replica's input holds: valid ids, an out-of-range id (S0.3), a bad dtype (S0.2).
INPUT_KINDS: tuple[str, ...] = ("valid", "out_of_range", "bad_dtype")


# ---------------------------------------------------------------------------------------
# Worlds


@reused
def world_draws(worlds: Sequence[World]) -> st.SearchStrategy[World]:
    """One of ``worlds`` (those the plugin gave the test), shrinking to the smallest."""
    if not worlds:
        raise ValueError("no world to draw from")
    return sampled_from(tuple(sorted(worlds, key=lambda w: (w.nprocs, w.size))))


# ---------------------------------------------------------------------------------------
# Configurations


@reused
@st.composite
def vocab_parallel_configs(draw: st.DrawFn, world_size: int, dtype: str = "float32", *,
                           added: bool | None = None,
                           max_dim: int = 5) -> VocabParallelConfig:
    """A valid vocab-parallel configuration for ``world_size`` ranks (S3.1).

    Both padded sizes divide ``world_size``: the padded base vocab is drawn as a
    multiple of ``lcm(padding_size, world_size)`` and the base vocab as any size that
    pads to it; likewise the added vocab. ``added``: True draws at least one added
    (LoRA) id, False none, None either. With ``padding_size`` 64 and a small vocab,
    several ranks own nothing but padding (F3.3), which is legal.
    """
    padding = draw(sampled_from(PADDING_SIZES))
    unit = math.lcm(padding, world_size)
    org_padded = unit * draw(st.integers(1, max(1, 24 // unit)))
    org = draw(st.integers(max(1, org_padded - padding + 1), org_padded))
    with_added = draw(st.booleans()) if added is None else added
    num_added = 0
    if with_added:
        added_padded = unit * draw(st.integers(1, max(1, 12 // unit)))
        num_added = draw(st.integers(max(1, added_padded - padding + 1), added_padded))
    explicit_org = num_added > 0 or draw(st.booleans())
    return VocabParallelConfig(
        num_embeddings=org + num_added,
        embedding_dim=draw(st.integers(1, max_dim)),
        org_num_embeddings=org if explicit_org else None,
        padding_size=padding,
        params_dtype=torch_dtype(dtype),
    )


@reused
@st.composite
def invalid_vocab_parallel_configs(draw: st.DrawFn, world_size: int,
                                   dtype: str = "float32") -> VocabParallelConfig:
    """A vocab-parallel configuration the reference rejects with ``ValueError`` (S0.5,
    S3): ``padding_size < 1``, ``org_num_embeddings`` outside ``[1, num_embeddings]``,
    a negative size, or (``world_size > 1``) padded sizes that do not divide
    ``world_size``."""
    good = draw(vocab_parallel_configs(world_size, dtype))
    kinds = ["padding_size", "org_above", "org_zero", "num_negative", "dim_negative"]
    if world_size > 1:
        kinds.append("indivisible")
    kind = draw(sampled_from(tuple(kinds)))
    if kind == "padding_size":
        return good.replace(padding_size=draw(st.integers(-3, 0)))
    if kind == "org_above":
        return good.replace(org_num_embeddings=good.num_embeddings + draw(st.integers(1, 5)))
    if kind == "org_zero":
        return good.replace(org_num_embeddings=0)
    if kind == "num_negative":
        return good.replace(num_embeddings=draw(st.integers(-5, -1)), org_num_embeddings=None)
    if kind == "dim_negative":
        return good.replace(embedding_dim=draw(st.integers(-5, -1)))
    # padding 1 and a base vocab that is not a multiple of the world size
    org = world_size * draw(st.integers(1, 8)) + draw(st.integers(1, world_size - 1))
    return VocabParallelConfig(num_embeddings=org, embedding_dim=good.embedding_dim,
                               padding_size=1, params_dtype=good.params_dtype)


def _toggle(draw: st.DrawFn, option: bool | None) -> bool:
    return draw(st.booleans()) if option is None else bool(option)


@reused
@st.composite
def sharded_configs(draw: st.DrawFn, world_size: int, dtype: str = "float32", *,
                    partition: str | None = "balanced",
                    gather_output: bool | None = True,
                    padding_idx: bool | None = False,
                    max_norm: bool | None = False,
                    scale_grad_by_freq: bool | None = False,
                    max_rows: int = 10,
                    max_dim: int = 9) -> ShardedConfig:
    """A valid sharded configuration for ``world_size`` column shards (S4).

    ``partition``/``gather_output``: the value, or None to draw it. With ``"even"`` the
    embedding dim is a multiple of ``world_size``; with ``"balanced"`` it is any size
    ``>= 1``, so divisible splits, uneven splits and ranks holding no column all occur.
    ``padding_idx``, ``max_norm`` (with a drawn ``norm_type``) and
    ``scale_grad_by_freq``: True on with a drawn value, False off, None drawn.
    """
    if partition is None:
        partition = draw(sampled_from(("balanced", "even")))
    if gather_output is None:
        gather_output = draw(st.booleans())
    rows = draw(st.integers(1, max_rows))
    if partition == "even":
        dim = world_size * draw(st.integers(1, max(1, max_dim // world_size)))
    else:
        dim = draw(st.integers(1, max_dim))
    with_max_norm = _toggle(draw, max_norm)
    return ShardedConfig(
        num_embeddings=rows,
        embedding_dim=dim,
        padding_idx=draw(padding_indices(rows)) if _toggle(draw, padding_idx) else None,
        max_norm=draw(MAX_NORMS) if with_max_norm else None,
        norm_type=draw(NORM_TYPES) if with_max_norm else 2.0,
        scale_grad_by_freq=_toggle(draw, scale_grad_by_freq),
        partition=partition,
        gather_output=gather_output,
        dtype=torch_dtype(dtype),
    )


@reused
@st.composite
def invalid_sharded_configs(draw: st.DrawFn, world_size: int,
                            dtype: str = "float32") -> ShardedConfig:
    """A sharded configuration the reference rejects with ``ValueError`` (S0.5, S1, S4):
    ``padding_idx`` outside ``[-V, V-1]``, a negative or non-finite ``max_norm``,
    ``norm_type <= 0`` or NaN, an unknown ``partition``, a negative size, or (for
    ``world_size > 1``) ``partition="even"`` with an embedding dim it does not divide."""
    good = draw(sharded_configs(world_size, dtype, gather_output=None))
    rows = good.num_embeddings
    kinds = ["padding_idx", "max_norm", "norm_type", "partition", "num_negative",
             "dim_negative"]
    if world_size > 1:
        kinds.append("uneven")
    kind = draw(sampled_from(tuple(kinds)))
    if kind == "padding_idx":
        bad = draw(st.one_of(st.integers(rows, rows + 5), st.integers(-rows - 5, -rows - 1)))
        return good.replace(padding_idx=bad)
    if kind == "max_norm":
        return good.replace(max_norm=draw(sampled_from((-1.0, -1e-3, math.inf, math.nan))))
    if kind == "norm_type":
        return good.replace(max_norm=1.0,
                            norm_type=draw(sampled_from((0.0, -2.0, -math.inf, math.nan))))
    if kind == "partition":
        return good.replace(partition=draw(sampled_from(("uneven", "rows", ""))))
    if kind == "num_negative":
        return good.replace(num_embeddings=draw(st.integers(-5, -1)))
    if kind == "dim_negative":
        return good.replace(embedding_dim=draw(st.integers(-5, -1)))
    return draw(uneven_even_configs(world_size, dtype))


@reused
@st.composite
def uneven_even_configs(draw: st.DrawFn, world_size: int,
                        dtype: str = "float32") -> ShardedConfig:
    """``partition="even"`` with an embedding dim that ``world_size`` (``> 1``) does not
    divide: ``ValueError`` (S4.1)."""
    if world_size < 2:
        raise ValueError("every embedding dim divides by a world size of 1")
    config = draw(sharded_configs(world_size, dtype, gather_output=None))
    dim = world_size * draw(st.integers(0, 2)) + draw(st.integers(1, world_size - 1))
    return config.replace(partition="even", embedding_dim=dim)


# ---------------------------------------------------------------------------------------
# Per-process tensors


def _replica_input_strategy(kind: str, num_embeddings: int) -> st.SearchStrategy:
    if kind == "valid":
        return index_tensors(num_embeddings)
    if kind == "out_of_range":
        return out_of_range_index_tensors(num_embeddings)
    if kind == "bad_dtype":
        return bad_dtype_index_tensors(num_embeddings)
    raise ValueError(f"unknown input kind {kind!r}; known: {', '.join(INPUT_KINDS)}")


@reused
@st.composite
def process_inputs(draw: st.DrawFn, world: World, num_embeddings: int, *,
                   kind: str = "valid",
                   replica_strategy: Callable[[int], st.SearchStrategy] | None = None,
                   ) -> list[torch.Tensor]:
    """One index tensor per process: the ranks of a replica share one draw, each
    data-parallel replica draws its own.

    ``kind``: ``"valid"`` ids in ``[0, num_embeddings)`` (:func:`.indices.index_tensors`:
    any shape and layout, 0-d, empty and non-contiguous included), ``"out_of_range"``
    (at least one id outside, S0.3) or ``"bad_dtype"`` (S0.2), in every replica.
    ``replica_strategy(dp_rank)``, when given, overrides the strategy per replica.
    """
    per_replica = []
    for dp_rank in range(world.dp_size):
        strategy = (replica_strategy(dp_rank) if replica_strategy is not None
                    else _replica_input_strategy(kind, num_embeddings))
        per_replica.append(draw(strategy))
    return [per_replica[world.coords(proc)[0]].clone() for proc in range(world.nprocs)]


@st.composite
def process_grad_outputs(draw: st.DrawFn, inputs: Sequence[torch.Tensor],
                         widths: Sequence[int], dtype: str) -> list[torch.Tensor]:
    """One output gradient per process, shaped ``inputs[proc].shape + (widths[proc],)``,
    each drawn on its own (a rank must use its own)."""
    return [draw(grad_outputs((*x.shape, width), dtype))
            for x, width in zip(inputs, widths, strict=True)]


@reused
@st.composite
def _with_added_id(draw: st.DrawFn, org: int, num_embeddings: int) -> torch.Tensor:
    """A valid, non-empty index tensor holding at least one added id."""
    layouts = tuple(layout for layout in INDEX_LAYOUTS if layout != "empty")
    tensor = draw(index_tensors(num_embeddings, layouts=layouts))
    added_id = draw(st.integers(org, num_embeddings - 1))
    if tensor.dim() == 0:
        tensor.fill_(added_id)
    else:
        tensor[tuple(draw(st.integers(0, n - 1)) for n in tensor.shape)] = added_id
    return tensor


# ---------------------------------------------------------------------------------------
# Whole scenarios


@reused
@st.composite
def vocab_parallel_scenarios(draw: st.DrawFn, worlds: Sequence[World], dtype: str, *,
                             ids: str = "base", backward: bool = False,
                             added: bool | None = None, values: str = "any") -> Scenario:
    """A vocab-parallel scenario on one of ``worlds``.

    ``ids``: ``"base"`` base ids only, ``"all"`` any valid id, ``"added"`` valid ids
    with at least one added id (the configuration then has added vocab),
    ``"out_of_range"``/``"bad_dtype"`` invalid inputs (S0.3/S0.2). ``backward``: also
    draw per-process output gradients. ``values``: the table's value range
    (:func:`.tensors.tables`); a vocab padding row holds 0 or a non-zero fill.
    """
    world = draw(world_draws(worlds))
    config = draw(vocab_parallel_configs(world.size, dtype,
                                         added=True if ids == "added" else added))
    org = config.org_num_embeddings or config.num_embeddings
    table = draw(tables(config.num_embeddings, config.embedding_dim, dtype, values))
    if ids == "base":
        inputs = draw(process_inputs(world, org))
    elif ids == "all":
        inputs = draw(process_inputs(world, config.num_embeddings))
    elif ids == "added":
        inputs = draw(process_inputs(
            world, config.num_embeddings,
            replica_strategy=lambda _: _with_added_id(org, config.num_embeddings)))
    else:
        inputs = draw(process_inputs(world, config.num_embeddings, kind=ids))
    fill = draw(sampled_from((0.0, 3.0)))
    scenario = Scenario(config, world, table, inputs, vocab_padding_fill=fill)
    if backward:
        scenario.grad_outputs = draw(process_grad_outputs(
            inputs, output_widths(config, world), dtype))
    return scenario


@reused
@st.composite
def sharded_scenarios(draw: st.DrawFn, worlds: Sequence[World], dtype: str, *,
                      backward: bool = False, inputs: str = "valid", values: str | None = None,
                      **config_options: object) -> Scenario:
    """A sharded scenario on one of ``worlds``.

    ``config_options`` go to :func:`sharded_configs`. ``inputs``: a kind of
    :func:`process_inputs`. ``values``: the table's value range; by default ``"any"``
    (pure gathers) unless ``max_norm`` may be on (``"moderate"``: norms compute).
    """
    world = draw(world_draws(worlds))
    config = draw(sharded_configs(world.size, dtype, **config_options))
    if values is None:
        values = "any" if config.max_norm is None else "moderate"
    table = draw(tables(config.num_embeddings, config.embedding_dim, dtype, values))
    per_process = draw(process_inputs(world, config.num_embeddings, kind=inputs))
    scenario = Scenario(config, world, table, per_process)
    if backward:
        scenario.grad_outputs = draw(process_grad_outputs(
            per_process, output_widths(config, world), dtype))
    return scenario


@reused
def vocab_parallel_cases(worlds: Sequence[World], dtype: str,
                         **options: object) -> st.SearchStrategy[Case]:
    """The forward case of a :func:`vocab_parallel_scenarios` draw."""
    return vocab_parallel_scenarios(worlds, dtype, **options).map(forward_case)


@reused
def sharded_cases(worlds: Sequence[World], dtype: str,
                  **options: object) -> st.SearchStrategy[Case]:
    """The forward case of a :func:`sharded_scenarios` draw."""
    return sharded_scenarios(worlds, dtype, **options).map(forward_case)
