"""Spec section 5, binary embedding: a normative packed layout and a latent float table.

``packed()`` gives ``qweight`` uint8 ``(V, ceil(D/8))`` (bit ``w >= 0``, LSB first
along D, unused high bits zero; exact, since the layout is normative) and ``scale``
float32 ``(V,)``, the mean of ``|w|`` over the D real columns (an accumulation,
within the S0.7 bound). The forward is ``scale[id] * (±1)`` cast to the layer dtype,
bitwise equal to the layer's own packed table; the padding row has scale 0 and
outputs exact zeros; the straight-through gradient of row ``r`` is ``scale[r]`` times
the sum of its output gradients.
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


@pytest.mark.spec("binary", "packed")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_packed_layout(target, dtype, data):
    """``packed()`` equals the reference's ``pack()``: qweight bitwise, scale within the
    bound; the unused high bits of the last byte are zero."""
    config = data.draw(xs.binary_configs(dtype, centre=None), label="config")
    state = data.draw(xs.states(config), label="state")
    harness.check_against_reference(target, target.case(config, state, action="packed"),
                                    properties=("unused_bits_are_zero",))


@pytest.mark.spec("binary", "packed")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_latent_forward_agrees_with_packed_table(target, dtype, data):
    """The latent forward equals, bitwise, ``forward_packed`` and the dequantised rows of
    the layer's own packed table."""
    config = data.draw(xs.binary_configs(dtype, centre=None), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
    harness.check_packed_agreement(target, target.case(config, state, indices))


@pytest.mark.spec("binary", "forward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_forward(target, dtype, data):
    """``±scale`` per bit, any index tensor, with and without centring."""
    config = data.draw(xs.binary_configs(dtype, centre=None), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
    harness.check_against_reference(target, target.case(config, state, indices),
                                    properties=("state_unchanged",))


@pytest.mark.spec("binary", "backward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_straight_through_gradient(target, dtype, data):
    """``grad_weight[r] = scale[r] * sum of the output gradients at id r``."""
    config = data.draw(xs.binary_configs(dtype, centre=None), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output))


@pytest.mark.spec("binary", "padding_idx")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_padding_row_outputs_zeros(target, dtype, data):
    """Whatever the padding row stores and whatever D (multiples of 8 or not), padding
    positions output exact zeros and the padding row gets no gradient."""
    config = data.draw(xs.binary_configs(dtype, padding=True), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings, include=[_padding_row(config)]),
                        label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_against_reference(target, target.case(config, state, indices, grad_output),
                                    properties=("padding_output_is_zero",
                                                "padding_gradient_is_zero"))


@pytest.mark.spec("binary", "padding_idx")
@given(data=st.data())
def test_padding_row_packs_to_zero_scale(target, data):
    """The padding row packs as a zero row: real bits 1, scale 0."""
    config = data.draw(xs.binary_configs(padding=True), label="config")
    state = data.draw(xs.states(config), label="state")
    harness.check_against_reference(target, target.case(config, state, action="packed"),
                                    properties=("unused_bits_are_zero",))
