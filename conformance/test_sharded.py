"""Conformance of the sharded family (spec section 4): lookups, partitions, gradients and
errors on every model-parallel world of the run.

Single-process backends are checked in a world of one rank; multi-process backends on
every model-parallel world of the profile (1 to 4 ranks). Rank r holds the column block
of one full table given by the partition and returns the full rows (gathered) or its
block (local). Options are in test_sharded_options.py, data-parallel grids in
test_sharded_data_parallel.py; the rules are in :mod:`embedspec.conformance.checks.expected`.
"""

from __future__ import annotations

import pytest
from embedspec.conformance.checks import Case, check, check_initialisation
from embedspec.conformance.strategies import DTYPE_NAMES
from embedspec.conformance.strategies.parallel import (
    invalid_sharded_configs,
    sharded_cases,
    uneven_even_configs,
    world_draws,
)
from embedspec.reference.configs import ShardedConfig
from hypothesis import given
from hypothesis import strategies as st

FAMILY = "sharded"



@pytest.mark.spec(FAMILY, "forward")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_gathered_output_is_the_full_row_on_every_rank(data, dtype, target, worlds):
    """S4.1, S4.3: with the balanced partition (any embedding dim, uneven splits and
    ranks without columns included) every rank returns the full rows, its lookup and
    the other ranks' gathered in rank order, bitwise; no shard changes."""
    case = data.draw(sharded_cases(worlds, dtype),
                         label="case")
    check(target, case)


@pytest.mark.spec(FAMILY, "local_output")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_local_output_is_the_rank_column_block(data, dtype, target, worlds):
    """S4.3 (DistDL): with ``gather_output=False`` each rank returns its own column block
    of the rows, bitwise, and its gradient is the gradient of that block."""
    case = data.draw(sharded_cases(worlds, dtype,
                                           gather_output=False, backward=True,
                                           values="moderate"), label="case")
    check(target, case)


@pytest.mark.spec(FAMILY, "even_partition")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_even_partition_splits_columns_equally(data, dtype, target, worlds):
    """S4.1 (fairseq2): ``partition="even"`` gives rank r the columns
    ``[r*D/P, (r+1)*D/P)``; lookups and gradients follow them."""
    case = data.draw(sharded_cases(worlds, dtype,
                                           partition="even", gather_output=None,
                                           backward=True, values="moderate"),
                         label="case")
    check(target, case)


@pytest.mark.spec(FAMILY, "even_partition", min_ranks=2)
@given(data=st.data())
def test_even_partition_rejects_an_indivisible_dim(data, target, worlds):
    """S4.1, S0.5: ``partition="even"`` with an embedding dim the world size does not
    divide raises ValueError on every rank (needs a world of two ranks or more)."""
    world = data.draw(world_draws(worlds), label="world")
    config = data.draw(uneven_even_configs(world.size), label="config")
    check(target, Case(config=config, world=world, action="build"), error=ValueError)


@pytest.mark.spec(FAMILY, "backward")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_rank_gradient_is_its_column_block(data, dtype, target, worlds):
    """S4.3, S1.5: the all-gather's backward hands rank r its column block of its own
    output gradient, so its weight gradient is that block of the unsharded gradient;
    rows not referenced get exact zeros."""
    case = data.draw(sharded_cases(worlds, dtype,
                                           backward=True, values="moderate"),
                         label="case")
    check(target, case)


@pytest.mark.spec(FAMILY, "errors")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_out_of_range_ids_raise_on_every_rank(data, dtype, target, worlds):
    """S0.3, S0.4: an id outside ``[0, V)`` raises IndexError on every rank, before any
    renormalisation (``max_norm`` may be on), leaving every shard unchanged."""
    case = data.draw(sharded_cases(worlds, dtype,
                                           inputs="out_of_range", max_norm=None,
                                           gather_output=None), label="case")
    check(target, case, error=IndexError)


@pytest.mark.spec(FAMILY, "errors")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_bad_index_dtype_raises_on_every_rank(data, dtype, target, worlds):
    """S0.2: indices that are not int32/int64 raise TypeError on every rank, state
    unchanged."""
    case = data.draw(sharded_cases(worlds, dtype,
                                           inputs="bad_dtype", max_norm=None,
                                           gather_output=None), label="case")
    check(target, case, error=TypeError)


@pytest.mark.spec(FAMILY, "errors")
@given(data=st.data())
def test_bad_configuration_raises_on_every_rank(data, target, worlds):
    """S0.5: a bad ``padding_idx``, ``max_norm``, ``norm_type``, ``partition`` or size
    raises ValueError on every rank at construction."""
    world = data.draw(world_draws(worlds), label="world")
    config = data.draw(invalid_sharded_configs(world.size), label="config")
    check(target, Case(config=config, world=world, action="build"), error=ValueError)


@pytest.mark.spec(FAMILY, "init")
@pytest.mark.parametrize("scheme", ["normal", "xavier_uniform", "scaled_normal"])
def test_init(target, seed, worlds, scheme):
    """S4: the shards of a fresh world are column blocks of one table drawn by the
    scheme, with the full table's ``(V, D)`` as the scheme's parameters; the padding row
    is exactly zero on every shard."""
    config = ShardedConfig(600, 11, padding_idx=4, init=scheme)
    for world in worlds:
        check_initialisation(target, Case(config=config, world=world, action="build"),
                             seed=seed)
