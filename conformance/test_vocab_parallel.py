"""Conformance of the vocab_parallel family (spec section 3) on every world of the run.

Single-process backends are checked in a world of one rank; multi-process backends on
every model-parallel world of the profile (1 to 4 ranks). Every rank is loaded with its
shard of one full table and must return the rows of the ids, whichever rank owns them;
expectations and the grid-free rules are in :mod:`embedspec.conformance.checks.expected`.
"""

from __future__ import annotations

import pytest
import torch
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks import Case, World, check, check_initialisation
from embedspec.conformance.checks.states import process_states
from embedspec.conformance.strategies import DTYPE_NAMES, tables
from embedspec.conformance.strategies.parallel import (
    invalid_vocab_parallel_configs,
    vocab_parallel_cases,
    vocab_parallel_configs,
    world_draws,
)
from embedspec.reference.configs import VocabParallelConfig
from hypothesis import given
from hypothesis import strategies as st

FAMILY = "vocab_parallel"



@pytest.mark.spec(FAMILY, "forward")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_every_rank_returns_the_rows_of_base_ids(data, dtype, target, worlds):
    """S3.4, S3.6: each rank looks up the ids it owns, zeroes the others and the
    all-reduce gives every rank the rows of all ids, bitwise; the weight is unchanged."""
    case = data.draw(vocab_parallel_cases(worlds, dtype,
                                                  ids="base"), label="case")
    check(target, case)


@pytest.mark.spec(FAMILY, "added_vocab")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_added_ids_embed_identically_at_every_world_size(data, dtype, target, worlds):
    """S3 (vs F3.5): added (LoRA) ids map to the added rows at every world size, 1
    included, so every rank returns the full table's row of an added id; the gradient
    of an added row is the sum of its positions' output gradients."""
    case = data.draw(vocab_parallel_cases(worlds,
                                                  dtype, ids="added", backward=True,
                                                  values="moderate"), label="case")
    check(target, case)


@pytest.mark.spec(FAMILY, "backward")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_rank_gradient_is_its_shard_of_the_full_gradient(data, dtype, target, worlds):
    """S3: the layer is trainable; with the all-reduce's identity backward, rank r's
    gradient is its shard of the unsharded gradient of its own output gradient; vocab
    padding rows and rows of ids not in the input get exact zeros."""
    case = data.draw(vocab_parallel_cases(worlds, dtype,
                                                  ids="base", backward=True,
                                                  values="moderate"), label="case")
    check(target, case)


@st.composite
def _loader_cases(draw: st.DrawFn, worlds: tuple[World, ...], dtype: str, rows: str) -> Case:
    """A weight_loader case: every rank holds its shard of a drawn table, then loads a
    checkpoint of ``rows`` rows: ``"base"`` (org_vocab_size), ``"full"``
    (num_embeddings) or ``"wrong"`` (any other shape), in the layer's dtype or float32
    (cast on load)."""
    world = draw(world_draws(worlds), label="world")
    config = draw(vocab_parallel_configs(world.size, dtype), label="config")
    org = config.org_num_embeddings or config.num_embeddings
    dim = config.embedding_dim
    table = draw(tables(config.num_embeddings, dim, dtype, "any"), label="table")
    fill = draw(st.sampled_from((0.0, 3.0)), label="vocab padding fill")
    states = process_states(config, world, table, vocab_padding_fill=fill)
    if rows == "base":
        shape = (org, dim)
    elif rows == "full":
        shape = (config.num_embeddings, dim)
    else:
        shape = draw(_wrong_checkpoint_shapes(config), label="checkpoint shape")
    checkpoint_dtype = draw(st.sampled_from((dtype, "float32")), label="checkpoint dtype")
    loaded = draw(tables(shape[0], shape[1], checkpoint_dtype, "any"), label="checkpoint") \
        if len(shape) == 2 else torch.ones(shape, dtype=table.dtype)
    return Case(config=config, states=states, world=world, action="weight_loader",
                loaded_weight=loaded)


@st.composite
def _wrong_checkpoint_shapes(draw: st.DrawFn, config: VocabParallelConfig) -> tuple[int, ...]:
    org = config.org_num_embeddings or config.num_embeddings
    num, dim = config.num_embeddings, config.embedding_dim
    wrong_rows = st.integers(0, num + 3).filter(lambda r: r not in (org, num))
    return draw(st.one_of(
        st.tuples(wrong_rows, st.just(dim)),
        st.tuples(st.sampled_from((org, num)), st.integers(0, dim + 2).filter(
            lambda d: d != dim)),
        st.just((org * dim,)),
        st.just((1, org, dim)),
    ))


@pytest.mark.spec(FAMILY, "weight_loader")
@pytest.mark.parametrize("rows", ["base", "full"])
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_checkpoint_loads_into_every_shard(data, dtype, rows, target, worlds):
    """S3.9: a base-only checkpoint (``org_vocab_size`` rows) fills each rank's base rows
    and zeroes every other row, added rows included (upstream behaviour); a full one
    (``num_embeddings`` rows, base then added) fills base and added rows; padding rows
    become zero."""
    case = data.draw(_loader_cases(worlds, dtype,
                                   rows), label="case")
    check(target, case)


@pytest.mark.spec(FAMILY, "weight_loader")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_checkpoint_of_another_shape_raises_on_every_rank(data, dtype, target, worlds):
    """S3.9, S0.4: any other checkpoint shape raises ValueError on every rank and leaves
    every shard exactly as it was."""
    case = data.draw(_loader_cases(worlds, dtype,
                                   "wrong"), label="case")
    check(target, case, error=ValueError)


@pytest.mark.spec(FAMILY, "errors")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_out_of_range_ids_raise_on_every_rank(data, dtype, target, worlds):
    """S0.3 (vs F3.5, which zeroes them silently above one rank): an id outside
    ``[0, num_embeddings)`` raises IndexError on every rank, whichever rank would own
    it, no rank is left waiting, and no shard changes (S0.4)."""
    case = data.draw(vocab_parallel_cases(worlds, dtype,
                                                  ids="out_of_range"), label="case")
    check(target, case, error=IndexError)


@pytest.mark.spec(FAMILY, "errors")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_bad_index_dtype_raises_on_every_rank(data, dtype, target, worlds):
    """S0.2: indices that are not int32/int64 raise TypeError on every rank, state
    unchanged."""
    case = data.draw(vocab_parallel_cases(worlds, dtype,
                                                  ids="bad_dtype"), label="case")
    check(target, case, error=TypeError)


@pytest.mark.spec(FAMILY, "errors")
@given(data=st.data())
def test_bad_configuration_raises_on_every_rank(data, target, worlds):
    """S0.5, S3: a bad size, ``padding_size`` or ``org_num_embeddings``, or padded sizes
    the world size does not divide, raise ValueError on every rank at construction."""
    world = data.draw(world_draws(worlds), label="world")
    config = data.draw(invalid_vocab_parallel_configs(world.size), label="config")
    check(target, Case(config=config, world=world, action="build"), error=ValueError)


@pytest.mark.spec(FAMILY, "init")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_init(target, seed, worlds, dtype):
    """S3.8: a fresh world holds, in its base and added rows, one N(0, 1) table; every
    vocab padding row of every shard is exactly zero."""
    config = VocabParallelConfig(450, 12, org_num_embeddings=430, padding_size=48,
                                 params_dtype=xs.torch_dtype(dtype))
    for world in worlds:
        check_initialisation(target, Case(config=config, world=world, action="build"),
                             seed=seed)


@pytest.mark.spec(FAMILY, "weight_loader")
@given(data=st.data())
def test_sharded_to_full_mapping(data, target, worlds):
    """S3.7: ``get_sharded_to_full_mapping()`` lists, for the rows of the gathered shards,
    the base ids, then the added ids, then the padding positions (None at world size 1,
    as upstream)."""
    world = data.draw(world_draws(worlds), label="world")
    config = data.draw(vocab_parallel_configs(world.size), label="config")
    check(target, Case(config=config, world=world, action="mapping"))
