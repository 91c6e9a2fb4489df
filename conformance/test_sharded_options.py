"""Conformance of the sharded family's embedding options (spec sections 1 and 4):
``padding_idx``, ``max_norm`` with the full-row norm, ``scale_grad_by_freq``, on every
model-parallel world of the run. The rules are in :mod:`embedspec.conformance.checks.expected`.
"""

from __future__ import annotations

import pytest
from embedspec.conformance.checks import check
from embedspec.conformance.strategies import DTYPE_NAMES
from embedspec.conformance.strategies.parallel import sharded_cases
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
