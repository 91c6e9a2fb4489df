"""Spec S1.1, padding_idx: the padding row is returned as stored and gets no gradient.

``padding_idx`` lies in ``[-V, V-1]``; a negative value means ``V + p``. The forward
does not force the padding row to zero (it returns whatever is stored); the padding
row's gradient is exactly zero, dense and sparse alike.
"""

from __future__ import annotations

import pytest
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks import check
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.spec("embedding", "padding_idx")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_padding_row_is_returned_as_stored(target, dtype, data):
    """A non-zero padding row comes back bitwise at every padding position."""
    check(target, data.draw(xs.embedding_cases(dtype, padding=True, values="any",
                                               include_padding=True), label="case"))


@pytest.mark.spec("embedding", "padding_idx")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_padding_row_gets_zero_gradient(target, dtype, data):
    """The padding row's dense gradient is exactly zero; the other rows are the
    reference's."""
    check(target, data.draw(xs.embedding_cases(dtype, padding=True, include_padding=True,
                                               backward=True), label="case"))


@pytest.mark.spec("embedding", "padding_idx")
@given(data=st.data())
def test_negative_padding_idx_counts_from_the_end(target, data):
    """``padding_idx = p - V`` designates row ``p``."""
    case = data.draw(xs.embedding_cases(padding=True, include_padding=True, backward=True),
                     label="case")
    config = case.config
    row = config.padding_idx % config.num_embeddings
    case.config = config.replace(padding_idx=row - config.num_embeddings)
    check(target, case)


@pytest.mark.spec("embedding", "padding_idx")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_a_negative_zero_padding_row_is_returned_as_stored(target, dtype, data):
    """S0.7 rule 1: a stored ``-0.0`` is a value like any other, sign bit included; a
    layer that outputs ``+0.0`` for its padding row does not return the stored row."""
    case = data.draw(xs.embedding_cases(dtype, padding=True, include_padding=True),
                     label="case")
    row = case.config.padding_idx % case.config.num_embeddings
    case.states[0]["weight"][row] = -0.0
    check(target, case)
