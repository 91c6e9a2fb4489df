"""Hypothesis strategies for the multi-rank families: vocab_parallel and sharded.

A multi-rank check draws, in this order: a world that the family and feature
allow (:func:`worlds_for`), a configuration that fits that world's model-parallel
size, one full table (the single draw every rank's shard is cut from), the
per-process inputs and, for backward checks, the per-process output gradients.
:func:`vocab_parallel_scenarios` and :func:`sharded_scenarios` draw all of it as a
:class:`~embedspec.conformance.worlds.Scenario`.

Per-process data follows the process order of :class:`~embedspec.conformance.case.World`
(``proc = dp_rank * world.size + rank``): the model-parallel ranks of one replica
see the *same* indices (they compute one layer together); data-parallel replicas
see *different* indices (each replica has its own batch). Output gradients are
drawn per process, so a backend that hands a rank another rank's gradient fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from embedspec.backends.contract import FEATURES
from embedspec.conformance.case import Runner, World
from embedspec.conformance.worlds import Scenario, output_widths
from embedspec.reference.configs import ShardedConfig, VocabParallelConfig
from hypothesis import strategies as st

__all__ = [
    "BAD_INDEX_DTYPES",
    "INDEX_DTYPES",
    "MAX_NORMS",
    "NORM_TYPES",
    "PADDING_SIZES",
    "bad_sharded_configs",
    "bad_vocab_parallel_configs",
    "full_tables",
    "grad_outputs_for",
    "index_tensors",
    "process_inputs",
    "sharded_configs",
    "sharded_scenarios",
    "vocab_parallel_configs",
    "vocab_parallel_scenarios",
    "world_draws",
    "worlds_for",
]

#: ``padding_size`` values drawn for vocab-parallel layers (64 is upstream's default).
PADDING_SIZES: tuple[int, ...] = (1, 2, 3, 4, 8, 64)
#: ``max_norm`` values: 0 (zeroes every referenced row) up to norms above most rows.
MAX_NORMS: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 3.0)
#: ``norm_type`` values, ``inf`` included (S1.2).
NORM_TYPES: tuple[float, ...] = (1.0, 2.0, 3.0, 0.5, math.inf)
INDEX_DTYPES: tuple[torch.dtype, ...] = (torch.int64, torch.int32)
#: Index dtypes that must raise ``TypeError`` (S0.2).
BAD_INDEX_DTYPES: tuple[torch.dtype, ...] = (torch.int16, torch.uint8, torch.bool,
                                             torch.float32)
#: Scales of drawn tables and gradients: rows both far below and far above the max norms.
_SCALES: tuple[float, ...] = (0.25, 1.0, 4.0)
_MAX_NUMEL = 16


# ---------------------------------------------------------------------------------------
# Worlds


def worlds_for(worlds: Sequence[World], runner: Runner, family: str,
               feature: str) -> tuple[World, ...]:
    """The worlds of this run that ``family``/``feature`` may use and ``runner`` can run.

    Data-parallel replicas (``dp_size > 1``) exist only for the sharded family's
    ``data_parallel`` feature, which uses nothing else; every other check runs on
    pure model-parallel worlds.
    """
    if feature not in FEATURES.get(family, ()):
        raise ValueError(f"unknown feature {feature!r} of family {family!r}")
    wants_grid = family == "sharded" and feature == "data_parallel"
    return tuple(w for w in worlds if (w.dp_size > 1) == wants_grid and runner.supports(w))


def world_draws(worlds: Sequence[World]) -> st.SearchStrategy[World]:
    """One of ``worlds`` (already filtered by :func:`worlds_for`), smallest first."""
    if not worlds:
        raise ValueError("no world to draw from")
    return st.sampled_from(sorted(worlds, key=lambda w: (w.nprocs, w.size)))


# ---------------------------------------------------------------------------------------
# Configurations


@st.composite
def vocab_parallel_configs(draw: st.DrawFn, world_size: int, dtype: torch.dtype, *,
                           added: bool | None = None,
                           max_dim: int = 5) -> VocabParallelConfig:
    """A valid vocab-parallel configuration for ``world_size`` ranks (S3.1).

    Both padded sizes divide ``world_size``: the padded base vocab is drawn as a
    multiple of ``lcm(padding_size, world_size)`` and the base vocab as any size that
    pads to it; likewise the added vocab. ``added``: True draws at least one added
    (LoRA) id, False none, None either. With ``padding_size`` 64 and a small vocab,
    several ranks own nothing but padding (F3.3), which is legal.
    """
    padding = draw(st.sampled_from(PADDING_SIZES))
    unit = math.lcm(padding, world_size)
    org_padded = unit * draw(st.integers(1, max(1, 48 // unit)))
    org = draw(st.integers(max(1, org_padded - padding + 1), org_padded))
    with_added = draw(st.booleans()) if added is None else added
    num_added = 0
    if with_added:
        added_padded = unit * draw(st.integers(1, max(1, 16 // unit)))
        num_added = draw(st.integers(max(1, added_padded - padding + 1), added_padded))
    explicit_org = num_added > 0 or draw(st.booleans())
    return VocabParallelConfig(
        num_embeddings=org + num_added,
        embedding_dim=draw(st.integers(1, max_dim)),
        org_num_embeddings=org if explicit_org else None,
        padding_size=padding,
        params_dtype=dtype,
    )


@st.composite
def bad_vocab_parallel_configs(draw: st.DrawFn, world_size: int,
                               dtype: torch.dtype) -> VocabParallelConfig:
    """A vocab-parallel configuration that must raise ``ValueError`` at construction (S0.5).

    One violated precondition each: ``padding_size < 1``, ``org_num_embeddings`` out of
    ``[1, num_embeddings]``, a negative ``num_embeddings`` or ``embedding_dim``, or (for
    ``world_size > 1``) padded sizes that do not divide ``world_size``.
    """
    good = draw(vocab_parallel_configs(world_size, dtype))
    kinds = ["padding_size", "org_above", "org_zero", "num_negative", "dim_negative"]
    if world_size > 1:
        kinds.append("indivisible")
    kind = draw(st.sampled_from(kinds))
    if kind == "padding_size":
        return good.replace(padding_size=draw(st.integers(-3, 0)))
    if kind == "org_above":
        return good.replace(org_num_embeddings=good.num_embeddings
                            + draw(st.integers(1, 5)))
    if kind == "org_zero":
        return good.replace(org_num_embeddings=0)
    if kind == "num_negative":
        return good.replace(num_embeddings=draw(st.integers(-5, -1)), org_num_embeddings=None)
    if kind == "dim_negative":
        return good.replace(embedding_dim=draw(st.integers(-5, -1)))
    # padding 1 and a base vocab that is not a multiple of the world size
    org = world_size * draw(st.integers(1, 8)) + draw(st.integers(1, world_size - 1))
    return VocabParallelConfig(num_embeddings=org, embedding_dim=good.embedding_dim,
                               padding_size=1, params_dtype=dtype)


@st.composite
def sharded_configs(draw: st.DrawFn, world_size: int, dtype: torch.dtype, *,
                    partition: str | None = "balanced",
                    gather_output: bool | None = True,
                    padding_idx: bool = False,
                    max_norm: bool = False,
                    scale_grad_by_freq: bool = False,
                    max_rows: int = 10,
                    max_dim: int = 9) -> ShardedConfig:
    """A valid sharded configuration for ``world_size`` column shards (S4).

    ``partition``/``gather_output``: the value to use, or None to draw it. With
    ``"even"`` the embedding dim is a multiple of ``world_size``; with ``"balanced"`` it
    is any size ``>= world_size`` (so divisible and non-divisible splits both occur).
    ``padding_idx``, ``max_norm``, ``scale_grad_by_freq``: True draws a value for that
    option (a padding index in ``[-V, V-1]``, a max norm and a norm type), False leaves
    it off.
    """
    if partition is None:
        partition = draw(st.sampled_from(("balanced", "even")))
    if gather_output is None:
        gather_output = draw(st.booleans())
    rows = draw(st.integers(1, max_rows))
    if partition == "even":
        dim = world_size * draw(st.integers(1, max(1, max_dim // world_size)))
    else:
        dim = draw(st.integers(world_size, max(world_size, max_dim)))
    return ShardedConfig(
        num_embeddings=rows,
        embedding_dim=dim,
        padding_idx=draw(st.integers(-rows, rows - 1)) if padding_idx else None,
        max_norm=draw(st.sampled_from(MAX_NORMS)) if max_norm else None,
        norm_type=draw(st.sampled_from(NORM_TYPES)) if max_norm else 2.0,
        scale_grad_by_freq=scale_grad_by_freq,
        partition=partition,
        gather_output=gather_output,
        dtype=dtype,
    )


@st.composite
def bad_sharded_configs(draw: st.DrawFn, world_size: int, dtype: torch.dtype) -> ShardedConfig:
    """A sharded configuration that must raise ``ValueError`` at construction (S0.5, S1).

    One violated rule each: ``padding_idx`` outside ``[-V, V-1]``, a negative or
    non-finite ``max_norm``, ``norm_type <= 0`` or NaN, an unknown ``partition``, or a
    negative size.
    """
    good = draw(sharded_configs(world_size, dtype, gather_output=None))
    rows = good.num_embeddings
    kind = draw(st.sampled_from(["padding_idx", "max_norm", "norm_type", "partition",
                                 "num_negative", "dim_negative"]))
    if kind == "padding_idx":
        bad = draw(st.one_of(st.integers(rows, rows + 5), st.integers(-rows - 5, -rows - 1)))
        return good.replace(padding_idx=bad)
    if kind == "max_norm":
        return good.replace(max_norm=draw(st.sampled_from((-1.0, -1e-3, math.inf, math.nan))))
    if kind == "norm_type":
        return good.replace(max_norm=1.0, norm_type=draw(st.sampled_from((0.0, -2.0, math.nan))))
    if kind == "partition":
        return good.replace(partition=draw(st.sampled_from(("uneven", "rows", ""))))
    if kind == "num_negative":
        return good.replace(num_embeddings=draw(st.integers(-5, -1)))
    return good.replace(embedding_dim=draw(st.integers(-5, -1)))


# ---------------------------------------------------------------------------------------
# Tensors


def _generator(draw: st.DrawFn) -> torch.Generator:
    return torch.Generator().manual_seed(draw(st.integers(0, 2**32 - 1)))


@st.composite
def full_tables(draw: st.DrawFn, rows: int, dim: int, dtype: torch.dtype) -> torch.Tensor:
    """One full ``(rows, dim)`` table: finite values of a drawn scale, sometimes with a
    zero row. Every rank's shard is cut from one such draw (S3, S4)."""
    scale = draw(st.sampled_from(_SCALES))
    table = torch.randn(rows, dim, generator=_generator(draw), dtype=torch.float64) * scale
    table = table.to(dtype)
    if rows and draw(st.booleans()):
        table[draw(st.integers(0, rows - 1))] = 0
    return table


@st.composite
def _index_shapes(draw: st.DrawFn) -> tuple[int, ...]:
    """0-d, empty and small 1-3-d shapes of at most ``_MAX_NUMEL`` elements."""
    shape = draw(st.one_of(
        st.just(()),
        st.lists(st.integers(0, 6), min_size=1, max_size=3).map(tuple),
    ))
    while math.prod(shape) > _MAX_NUMEL:
        shape = shape[1:]
    return shape


@st.composite
def index_tensors(draw: st.DrawFn, ids: st.SearchStrategy[int], *,
                  dtypes: Sequence[torch.dtype] = INDEX_DTYPES) -> torch.Tensor:
    """An index tensor of any shape (0-d and empty included), sometimes non-contiguous,
    whose ids come from a small drawn pool of ``ids`` so that repeats are common."""
    shape = draw(_index_shapes())
    numel = math.prod(shape)
    dtype = draw(st.sampled_from(tuple(dtypes)))
    pool = draw(st.lists(ids, min_size=1, max_size=6))
    values = draw(st.lists(st.sampled_from(pool), min_size=numel, max_size=numel))
    if len(shape) >= 1 and draw(st.booleans()):
        # every other column of a twice-as-wide tensor: a strided view
        filler = draw(st.lists(st.sampled_from(pool), min_size=numel, max_size=numel))
        wide = torch.tensor([v for pair in zip(values, filler, strict=True) for v in pair],
                            dtype=torch.int64).reshape(*shape[:-1], 2 * shape[-1])
        return wide.to(dtype)[..., ::2]
    return torch.tensor(values, dtype=torch.int64).reshape(shape).to(dtype)


@st.composite
def process_inputs(draw: st.DrawFn, world: World, ids: st.SearchStrategy[int], *,
                   dtypes: Sequence[torch.dtype] = INDEX_DTYPES,
                   replica_ids: Sequence[st.SearchStrategy[int]] | None = None,
                   ) -> list[torch.Tensor]:
    """One index tensor per process: the ranks of a replica share one draw, each
    data-parallel replica draws its own. ``replica_ids`` overrides ``ids`` per replica."""
    per_replica = []
    for dp_rank in range(world.dp_size):
        source = ids if replica_ids is None else replica_ids[dp_rank]
        per_replica.append(draw(index_tensors(source, dtypes=dtypes)))
    return [per_replica[world.coords(proc)[0]].clone() for proc in range(world.nprocs)]


@st.composite
def grad_outputs_for(draw: st.DrawFn, inputs: Sequence[torch.Tensor], widths: Sequence[int],
                     dtype: torch.dtype) -> list[torch.Tensor]:
    """One output gradient per process, shaped ``inputs[proc].shape + (widths[proc],)``,
    each drawn independently (a rank must use its own)."""
    scale = draw(st.sampled_from(_SCALES))
    generator = _generator(draw)
    grads = []
    for indices, width in zip(inputs, widths, strict=True):
        shape = (*indices.shape, width)
        grads.append((torch.randn(shape, generator=generator, dtype=torch.float64) * scale)
                     .to(dtype))
    return grads


# ---------------------------------------------------------------------------------------
# Whole scenarios


@st.composite
def vocab_parallel_scenarios(draw: st.DrawFn, worlds: Sequence[World], dtype: torch.dtype, *,
                             ids: str = "base", backward: bool = False,
                             added: bool | None = None) -> Scenario:
    """A vocab-parallel scenario on one of ``worlds``.

    ``ids``: ``"base"`` draws base ids only, ``"all"`` any valid id, ``"added"`` a mix
    that always includes added ids (the configuration then has added vocab).
    ``backward``: also draw per-process output gradients.
    """
    world = draw(world_draws(worlds))
    if ids == "added":
        added = True
    config = draw(vocab_parallel_configs(world.size, dtype, added=added))
    org = config.org_num_embeddings or config.num_embeddings
    table = draw(full_tables(config.num_embeddings, config.embedding_dim, dtype))
    id_strategy = {
        "base": st.integers(0, org - 1),
        "all": st.integers(0, config.num_embeddings - 1),
        "added": st.one_of(st.integers(org, config.num_embeddings - 1),
                           st.integers(0, org - 1)),
    }[ids]
    inputs = draw(process_inputs(world, id_strategy))
    if ids == "added" and not any(bool((x >= org).any()) for x in inputs):
        inputs = [torch.cat([x.reshape(-1), x.new_tensor([config.num_embeddings - 1])])
                  for x in inputs]
    padding_fill = draw(st.sampled_from((0.0, 5.0)))
    scenario = Scenario(config, world, table, inputs, vocab_padding_fill=padding_fill)
    if backward:
        scenario.grad_outputs = draw(grad_outputs_for(inputs, output_widths(scenario), dtype))
    return scenario


@st.composite
def sharded_scenarios(draw: st.DrawFn, worlds: Sequence[World], dtype: torch.dtype, *,
                      backward: bool = False, **config_options: object) -> Scenario:
    """A sharded scenario on one of ``worlds``; ``config_options`` go to
    :func:`sharded_configs`. Ids are valid ids, drawn per replica."""
    world = draw(world_draws(worlds))
    config = draw(sharded_configs(world.size, dtype, **config_options))
    table = draw(full_tables(config.num_embeddings, config.embedding_dim, dtype))
    inputs = draw(process_inputs(world, st.integers(0, config.num_embeddings - 1)))
    scenario = Scenario(config, world, table, inputs)
    if backward:
        scenario.grad_outputs = draw(grad_outputs_for(inputs, output_widths(scenario), dtype))
    return scenario
