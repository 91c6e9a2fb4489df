"""Conformance of the sharded family's data-parallel grid (spec S4, DistDL): replicas of
a model-parallel world, replica 0 owning the weights.

Only multi-process backends have grids (the profile's 2 x 2 world); elsewhere these
tests are skipped. The grid rules are in :mod:`embedspec.conformance.worlds`.
"""

from __future__ import annotations

import pytest
from embedspec.conformance import harness
from embedspec.conformance.case import World
from embedspec.conformance.strategies import DTYPE_NAMES
from embedspec.conformance.strategies.parallel import sharded_scenarios, worlds_for
from embedspec.conformance.world_states import forward_case
from embedspec.conformance.worlds import check_world
from hypothesis import given
from hypothesis import strategies as st

FAMILY = "sharded"
FEATURE = "data_parallel"

target = harness.target_fixture()


def _grids(worlds: tuple[World, ...], runner) -> tuple[World, ...]:
    grids = worlds_for(worlds, runner, FAMILY, FEATURE)
    if not grids:
        pytest.skip("no data-parallel grid in this run (single-process backends have none)")
    return grids


@pytest.mark.spec(FAMILY, FEATURE)
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_replicas_look_up_their_own_ids_and_the_owner_sums_gradients(data, dtype, target,
                                                                     runner, worlds):
    """S4 (DistDL): every replica looks up its own input in the owner's shards; the
    owner's gradient is the sum over replicas of each replica's gradient (each with its
    own ``scale_grad_by_freq`` counts and padding row)."""
    scenario = data.draw(sharded_scenarios(_grids(worlds, runner), dtype, gather_output=None,
                                           padding_idx=None, scale_grad_by_freq=None,
                                           backward=True, values="moderate"),
                         label="scenario")
    check_world(target, forward_case(scenario, target.device))


@pytest.mark.spec(FAMILY, FEATURE)
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_owner_renormalises_the_rows_of_every_replica(data, dtype, target, runner, worlds):
    """S4: with ``max_norm`` the owner renormalises, once and by the full-row norm, the
    union of the rows every replica references, and every replica reads those rows."""
    scenario = data.draw(sharded_scenarios(_grids(worlds, runner), dtype, gather_output=None,
                                           max_norm=True), label="scenario")
    check_world(target, forward_case(scenario, target.device))


@pytest.mark.spec(FAMILY, FEATURE)
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_an_out_of_range_id_in_every_replica_raises_everywhere(data, dtype, target, runner,
                                                               worlds):
    """S0.3, S0.4: with an invalid id in every replica's input, every process raises
    IndexError, none is left waiting, and no process's state changes."""
    scenario = data.draw(sharded_scenarios(_grids(worlds, runner), dtype, gather_output=None,
                                           max_norm=None, inputs="out_of_range"),
                         label="scenario")
    check_world(target, forward_case(scenario, target.device), error=IndexError)
