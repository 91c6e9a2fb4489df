"""Conformance of the sharded family's data-parallel grid (spec S4, DistDL): replicas of
a model-parallel world, replica 0 owning the weights.

Only multi-process backends have grids (the profile's 2 x 2 world); single-process
backends do not declare the feature. The grid rules are in
:mod:`embedspec.conformance.checks.expected.sharded`.
"""

from __future__ import annotations

import pytest
from embedspec.conformance.checks import check
from embedspec.conformance.strategies import DTYPE_NAMES
from embedspec.conformance.strategies.parallel import sharded_cases
from hypothesis import given
from hypothesis import strategies as st

FAMILY = "sharded"
FEATURE = "data_parallel"



@pytest.mark.spec(FAMILY, FEATURE)
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_replicas_look_up_their_own_ids_and_the_owner_sums_gradients(data, dtype, target,
                                                                     worlds):
    """S4 (DistDL): every replica looks up its own input in the owner's shards; the
    owner's gradient is the sum over replicas of each replica's gradient (each with its
    own ``scale_grad_by_freq`` counts and padding row)."""
    case = data.draw(sharded_cases(worlds, dtype, gather_output=None,
                                           padding_idx=None, scale_grad_by_freq=None,
                                           backward=True, values="moderate"),
                         label="case")
    check(target, case)


@pytest.mark.spec(FAMILY, FEATURE)
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_owner_renormalises_the_rows_of_every_replica(data, dtype, target, worlds):
    """S4: with ``max_norm`` the owner renormalises, once and by the full-row norm, the
    union of the rows every replica references, and every replica reads those rows."""
    case = data.draw(sharded_cases(worlds, dtype, gather_output=None,
                                           max_norm=True), label="case")
    check(target, case)


@pytest.mark.spec(FAMILY, FEATURE)
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_an_out_of_range_id_in_every_replica_raises_everywhere(data, dtype, target,
                                                               worlds):
    """S0.3, S0.4: with an invalid id in every replica's input, every process raises
    IndexError, none is left waiting, and no process's state changes."""
    case = data.draw(sharded_cases(worlds, dtype, gather_output=None,
                                           max_norm=None, inputs="out_of_range"),
                         label="case")
    check(target, case, error=IndexError)
