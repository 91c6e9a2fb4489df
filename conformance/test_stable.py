"""Spec section 2, StableEmbedding: a section-1 lookup followed by a LayerNorm.

The looked-up (and, with ``max_norm``, renormalised) rows go through
``LayerNorm(D, eps=1e-5)`` with affine parameters, computed in float32 (float64 for
float64 weights) and cast back to the weight dtype. A layer norm is an accumulation:
outputs and gradients are compared within the S0.7 bound, which grows where a row's
mean is large against its spread. Padding positions output the norm of the stored
padding row (the bias for a zero row) and send gradient into the norm's parameters
but not into the padding row.
"""

from __future__ import annotations

import pytest
from embedspec.conformance import harness
from embedspec.conformance import strategies as xs
from embedspec.reference.configs import StableEmbeddingConfig
from embedspec.reference.validation import normalize_padding_idx
from hypothesis import given
from hypothesis import strategies as st

target = harness.target_fixture()


@pytest.mark.spec("stable", "forward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_forward_is_layer_norm_of_rows(target, dtype, data):
    """Any table, any norm parameters, any index tensor."""
    config = data.draw(xs.stable_configs(dtype), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
    harness.check_against_reference(target, target.case(config, state, indices),
                                    properties=("state_unchanged",))


@pytest.mark.spec("stable", "padding_idx")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_padding_positions(target, dtype, data):
    """A zero padding row outputs the norm's bias; the padding row gets no gradient
    while the norm's parameters get the padding positions' gradient."""
    config = data.draw(xs.stable_configs(dtype, padding=True), label="config")
    state = data.draw(xs.states(config), label="state")
    padding = normalize_padding_idx(config.padding_idx, config.num_embeddings)
    state["weight"][padding] *= data.draw(st.sampled_from([0.0, 1.0]),
                                          label="padding_row_factor")
    indices = data.draw(xs.index_tensors(config.num_embeddings, include=[padding]),
                        label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output),
                                    properties=("padding_gradient_is_zero",))


@pytest.mark.spec("stable", "max_norm")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_max_norm_renorms_before_the_norm(target, dtype, data):
    """Referenced rows are renormalised in place (S1.2), then normalised."""
    config = data.draw(xs.stable_configs(dtype, max_norm=True), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
    harness.check_against_reference(target, target.case(config, state, indices))


@pytest.mark.spec("stable", "backward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_backward(target, dtype, data):
    """Gradients of the table, the norm weight and the norm bias."""
    config = data.draw(xs.stable_configs(dtype), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output))


@pytest.mark.spec("stable", "init")
@pytest.mark.parametrize(("num_embeddings", "embedding_dim", "padding_idx"), [
    pytest.param(512, 16, 3, id="512x16-pad3"),
    pytest.param(40, 200, None, id="40x200"),
])
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
def test_init(target, seed, dtype, num_embeddings, embedding_dim, padding_idx):
    """Xavier-uniform table with a zero padding row, norm weight 1 and bias 0, in the
    reference's dtypes (``dtype`` is honoured, F2.3)."""
    config = StableEmbeddingConfig(num_embeddings, embedding_dim, padding_idx=padding_idx,
                                   dtype=xs.torch_dtype(dtype))
    harness.check_initialisation(target, target.case(config, action="build"), seed=seed)
