"""Conformance of the sharded family (spec section 4): lookups, partitions, gradients and
errors on every model-parallel world of the run.

Single-process backends are checked in a world of one rank; multi-process backends on
every model-parallel world of the profile (1 to 4 ranks). Rank r holds the column block
of one full table given by the partition and returns the full rows (gathered) or its
block (local). Options are in test_sharded_options.py, data-parallel grids in
test_sharded_data_parallel.py; the rules are in :mod:`embedspec.conformance.worlds`.
"""

from __future__ import annotations

import pytest
from embedspec.conformance import harness
from embedspec.conformance.case import Case, World
from embedspec.conformance.strategies import DTYPE_NAMES
from embedspec.conformance.strategies.parallel import (
    invalid_sharded_configs,
    sharded_scenarios,
    uneven_even_configs,
    world_draws,
    worlds_for,
)
from embedspec.conformance.world_states import forward_case
from embedspec.conformance.worlds import check_world
from hypothesis import given
from hypothesis import strategies as st

FAMILY = "sharded"

target = harness.target_fixture()


def _worlds(worlds: tuple[World, ...], runner, feature: str, *,
            min_size: int = 1) -> tuple[World, ...]:
    fitting = worlds_for(worlds, runner, FAMILY, feature, min_size=min_size)
    if not fitting:
        pytest.skip(f"no world of this run fits {FAMILY} / {feature}"
                    + (f" with at least {min_size} ranks" if min_size > 1 else ""))
    return fitting


@pytest.mark.spec(FAMILY, "forward")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_gathered_output_is_the_full_row_on_every_rank(data, dtype, target, runner, worlds):
    """S4.1, S4.3: with the balanced partition (any embedding dim, uneven splits and
    ranks without columns included) every rank returns the full rows, its lookup and
    the other ranks' gathered in rank order, bitwise; no shard changes."""
    scenario = data.draw(sharded_scenarios(_worlds(worlds, runner, "forward"), dtype),
                         label="scenario")
    check_world(target, forward_case(scenario, target.device))


@pytest.mark.spec(FAMILY, "local_output")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_local_output_is_the_rank_column_block(data, dtype, target, runner, worlds):
    """S4.3 (DistDL): with ``gather_output=False`` each rank returns its own column block
    of the rows, bitwise, and its gradient is the gradient of that block."""
    scenario = data.draw(sharded_scenarios(_worlds(worlds, runner, "local_output"), dtype,
                                           gather_output=False, backward=True,
                                           values="moderate"), label="scenario")
    check_world(target, forward_case(scenario, target.device))


@pytest.mark.spec(FAMILY, "even_partition")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_even_partition_splits_columns_equally(data, dtype, target, runner, worlds):
    """S4.1 (fairseq2): ``partition="even"`` gives rank r the columns
    ``[r*D/P, (r+1)*D/P)``; lookups and gradients follow them."""
    scenario = data.draw(sharded_scenarios(_worlds(worlds, runner, "even_partition"), dtype,
                                           partition="even", gather_output=None,
                                           backward=True, values="moderate"),
                         label="scenario")
    check_world(target, forward_case(scenario, target.device))


@pytest.mark.spec(FAMILY, "even_partition")
@given(data=st.data())
def test_even_partition_rejects_an_indivisible_dim(data, target, runner, worlds):
    """S4.1, S0.5: ``partition="even"`` with an embedding dim the world size does not
    divide raises ValueError on every rank (needs a world of two ranks or more)."""
    world = data.draw(world_draws(_worlds(worlds, runner, "even_partition", min_size=2)),
                      label="world")
    config = data.draw(uneven_even_configs(world.size), label="config")
    check_world(target, Case(config=config, world=world, device=target.device,
                             action="build"), error=ValueError)


@pytest.mark.spec(FAMILY, "backward")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_rank_gradient_is_its_column_block(data, dtype, target, runner, worlds):
    """S4.3, S1.5: the all-gather's backward hands rank r its column block of its own
    output gradient, so its weight gradient is that block of the unsharded gradient;
    rows not referenced get exact zeros."""
    scenario = data.draw(sharded_scenarios(_worlds(worlds, runner, "backward"), dtype,
                                           backward=True, values="moderate"),
                         label="scenario")
    check_world(target, forward_case(scenario, target.device))


@pytest.mark.spec(FAMILY, "errors")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_out_of_range_ids_raise_on_every_rank(data, dtype, target, runner, worlds):
    """S0.3, S0.4: an id outside ``[0, V)`` raises IndexError on every rank, before any
    renormalisation (``max_norm`` may be on), leaving every shard unchanged."""
    scenario = data.draw(sharded_scenarios(_worlds(worlds, runner, "errors"), dtype,
                                           inputs="out_of_range", max_norm=None,
                                           gather_output=None), label="scenario")
    check_world(target, forward_case(scenario, target.device), error=IndexError)


@pytest.mark.spec(FAMILY, "errors")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_bad_index_dtype_raises_on_every_rank(data, dtype, target, runner, worlds):
    """S0.2: indices that are not int32/int64 raise TypeError on every rank, state
    unchanged."""
    scenario = data.draw(sharded_scenarios(_worlds(worlds, runner, "errors"), dtype,
                                           inputs="bad_dtype", max_norm=None,
                                           gather_output=None), label="scenario")
    check_world(target, forward_case(scenario, target.device), error=TypeError)


@pytest.mark.spec(FAMILY, "errors")
@given(data=st.data())
def test_bad_configuration_raises_on_every_rank(data, target, runner, worlds):
    """S0.5: a bad ``padding_idx``, ``max_norm``, ``norm_type``, ``partition`` or size
    raises ValueError on every rank at construction."""
    world = data.draw(world_draws(_worlds(worlds, runner, "errors")), label="world")
    config = data.draw(invalid_sharded_configs(world.size), label="config")
    check_world(target, Case(config=config, world=world, device=target.device,
                             action="build"), error=ValueError)
