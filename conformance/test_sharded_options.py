"""Conformance of the sharded family's embedding options (spec sections 1 and 4):
``padding_idx``, ``max_norm`` with the full-row norm, ``scale_grad_by_freq``, on every
model-parallel world of the run. The rules are in :mod:`embedspec.conformance.checks.expected`.
"""

from __future__ import annotations

import pytest
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks import Case, check
from embedspec.conformance.checks.states import Scenario, forward_case
from embedspec.conformance.strategies import DTYPE_NAMES
from embedspec.conformance.strategies.parallel import (
    process_inputs,
    sharded_cases,
    sharded_configs,
    world_draws,
)
from hypothesis import given
from hypothesis import strategies as st

FAMILY = "sharded"



@pytest.mark.spec(FAMILY, "padding_idx")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_padding_row_is_returned_as_stored_and_gets_no_gradient(data, dtype, target,
                                                                 worlds):
    """S1.1: ``padding_idx`` in ``[-V, V-1]``; padding positions return the stored row
    (not zeros), and on every shard the padding row's gradient is exactly zero."""
    case = data.draw(sharded_cases(worlds, dtype,
                                           padding_idx=True, gather_output=None,
                                           backward=True, values="moderate"),
                         label="case")
    check(target, case)


@pytest.mark.spec(FAMILY, "max_norm")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_max_norm_renormalises_stored_shards_by_the_full_row_norm(data, dtype, target,
                                                                  worlds):
    """S4 (vs F4.2, which measures one shard and renormalises a copy): each referenced
    row whose full-row norm (reduced across shards) exceeds ``max_norm`` is scaled in
    every stored shard; every other row stays bitwise as it was; the output is bitwise
    the stored rows."""
    case = data.draw(sharded_cases(worlds, dtype,
                                           max_norm=True, gather_output=None),
                         label="case")
    check(target, case)


@pytest.mark.spec(FAMILY, "max_norm")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_max_norm_is_invisible_to_autograd(data, dtype, target, worlds):
    """S1.2: the renormalisation happens outside autograd, so each rank's gradient is
    what it would be without ``max_norm``."""
    case = data.draw(sharded_cases(worlds, dtype,
                                           max_norm=True, gather_output=None, backward=True),
                         label="case")
    check(target, case)


@pytest.mark.spec(FAMILY, "scale_grad_by_freq")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_gradients_are_scaled_by_id_frequency(data, dtype, target, worlds):
    """S1.3: each contribution to a row is divided by the count of its id in the whole
    input, on every shard."""
    case = data.draw(sharded_cases(worlds,
                                           dtype, scale_grad_by_freq=True, gather_output=None,
                                           backward=True, values="moderate"),
                         label="case")
    check(target, case)


@st.composite
def exact_norm_cases(draw: st.DrawFn, worlds, dtype: str, norm_type: float) -> Case:
    """A sharded case with ``max_norm`` equal, exactly, to the full-row norm of one
    referenced row, whose entries may lie on different shards."""
    world = draw(world_draws(worlds), label="world")
    config = draw(sharded_configs(world.size, dtype, gather_output=None), label="config")
    config = config.replace(embedding_dim=max(2, config.embedding_dim))
    exact, norm = draw(xs.exact_norm_rows(config.embedding_dim, config.dtype, norm_type),
                       label="exact_row")
    config = config.replace(max_norm=norm, norm_type=norm_type)
    table = draw(xs.tables(config.num_embeddings, config.embedding_dim, dtype, "moderate"),
                 label="table")
    row = draw(st.integers(0, config.num_embeddings - 1), label="row")
    table[row] = exact
    inputs = draw(process_inputs(world, config.num_embeddings, replica_strategy=lambda _:
                                 xs.index_tensors(config.num_embeddings, include=[row])),
                  label="inputs")
    return forward_case(Scenario(config, world, table, inputs))


@pytest.mark.spec(FAMILY, "max_norm")
@pytest.mark.parametrize("norm_type", list(xs.EXACT_NORM_ROWS), ids=["p1", "p2", "pinf"])
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(data=st.data())
def test_full_row_norm_equal_to_max_norm_is_not_renormalised(data, dtype, norm_type, target,
                                                              worlds):
    """S1.2, S4.4: the comparison is strict for the full-row norm too: a row whose norm,
    reduced across shards, equals max_norm exactly stays bitwise on every shard."""
    check(target, data.draw(exact_norm_cases(worlds, dtype, norm_type), label="case"))
