"""Spec S1.3-S1.5, backward: dense, frequency-scaled and sparse weight gradients.

``grad_weight[k]`` is the sum of the output gradients at the non-padding positions
with id ``k`` (each divided by the number of occurrences of ``k`` with
``scale_grad_by_freq``). Repeated ids make it an accumulation, compared within the
S0.7 bound; rows with no contribution must be exactly zero. A sparse gradient is a
COO tensor of shape ``(V, D)`` compared after coalescing (a backend may coalesce).
"""

from __future__ import annotations

import pytest
from embedspec.conformance import harness
from embedspec.conformance import strategies as xs
from embedspec.reference.validation import normalize_padding_idx
from hypothesis import given
from hypothesis import strategies as st

target = harness.target_fixture()


@pytest.mark.spec("embedding", "backward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_dense_gradient(target, dtype, data):
    """Sum of the output gradients per row, any index shape and distribution."""
    config = data.draw(xs.embedding_configs(dtype), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output))


@pytest.mark.spec("embedding", "backward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_dense_gradient_of_hot_ids(target, dtype, data):
    """Zipf-skewed and all-duplicate ids: long accumulations into few rows."""
    config = data.draw(xs.embedding_configs(dtype), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings,
                                         distributions=("zipf", "duplicates"),
                                         layouts=("contiguous", "transposed", "strided")),
                        label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output))


@pytest.mark.spec("embedding", "scale_grad_by_freq")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_scale_grad_by_freq(target, dtype, data):
    """Each contribution to row ``k`` is divided by the count of ``k`` in the whole
    (flattened) index tensor: the row gets the mean of its gradients."""
    config = data.draw(xs.embedding_configs(dtype, scale_grad_by_freq=True), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output))


@pytest.mark.spec("embedding", "scale_grad_by_freq")
@given(data=st.data())
def test_scale_grad_by_freq_with_padding(target, data):
    """Padding positions contribute nothing, even when frequencies are counted."""
    config = data.draw(xs.embedding_configs(scale_grad_by_freq=True, padding=True),
                       label="config")
    state = data.draw(xs.states(config), label="state")
    padding = normalize_padding_idx(config.padding_idx, config.num_embeddings)
    indices = data.draw(xs.index_tensors(config.num_embeddings, include=[padding]),
                        label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output),
                                    properties=("padding_gradient_is_zero",))


@pytest.mark.spec("embedding", "sparse")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_sparse_gradient(target, dtype, data):
    """A sparse COO ``(V, D)`` gradient equal to the dense one once coalesced."""
    config = data.draw(xs.embedding_configs(dtype, sparse=True), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output))


@pytest.mark.spec("embedding", "sparse")
@given(data=st.data())
def test_sparse_gradient_drops_padding(target, data):
    """Padding positions leave no entry in the sparse gradient."""
    config = data.draw(xs.embedding_configs(sparse=True, padding=True), label="config")
    state = data.draw(xs.states(config), label="state")
    padding = normalize_padding_idx(config.padding_idx, config.num_embeddings)
    indices = data.draw(xs.index_tensors(config.num_embeddings, include=[padding]),
                        label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output),
                                    properties=("padding_gradient_is_zero",))


@pytest.mark.spec("embedding", "sparse")
@given(data=st.data())
def test_sparse_gradient_of_empty_input(target, data):
    """No positions: a sparse ``(V, D)`` gradient without entries."""
    config = data.draw(xs.embedding_configs(sparse=True), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings, layouts=("empty",)),
                        label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output))
