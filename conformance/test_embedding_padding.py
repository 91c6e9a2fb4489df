"""Spec S1.1, padding_idx: the padding row is returned as stored and gets no gradient.

``padding_idx`` lies in ``[-V, V-1]``; a negative value means ``V + p``. The forward
does not force the padding row to zero (it returns whatever is stored); the padding
row's gradient is exactly zero, dense and sparse alike.
"""

from __future__ import annotations

import pytest
from embedspec.conformance import harness
from embedspec.conformance import strategies as xs
from embedspec.reference.validation import normalize_padding_idx
from hypothesis import given
from hypothesis import strategies as st

target = harness.target_fixture()


def _padding_row(config) -> int:
    return normalize_padding_idx(config.padding_idx, config.num_embeddings)


@pytest.mark.spec("embedding", "padding_idx")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_padding_row_is_returned_as_stored(target, dtype, data):
    """A non-zero padding row comes back bitwise at every padding position."""
    config = data.draw(xs.embedding_configs(dtype, padding=True), label="config")
    state = data.draw(xs.states(config, values="any"), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings, include=[_padding_row(config)]),
                        label="indices")
    harness.check_against_reference(target, target.case(config, state, indices),
                                    properties=("padding_output_is_stored_row",
                                                "state_unchanged"))


@pytest.mark.spec("embedding", "padding_idx")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_padding_row_gets_zero_gradient(target, dtype, data):
    """The padding row's dense gradient is exactly zero; the other rows are the
    reference's."""
    config = data.draw(xs.embedding_configs(dtype, padding=True), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings, include=[_padding_row(config)]),
                        label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output),
                                    properties=("padding_gradient_is_zero",))


@pytest.mark.spec("embedding", "padding_idx")
@given(data=st.data())
def test_negative_padding_idx_counts_from_the_end(target, data):
    """``padding_idx = p - V`` designates row ``p``."""
    config = data.draw(xs.embedding_configs(padding=True), label="config")
    row = _padding_row(config)
    config = config.replace(padding_idx=row - config.num_embeddings)
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings, include=[row]),
                        label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output),
                                    properties=("padding_gradient_is_zero",
                                                "padding_output_is_stored_row"))
