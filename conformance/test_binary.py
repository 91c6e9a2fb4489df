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
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks import Case, check, check_initialisation, check_packed_agreement
from embedspec.reference.configs import BinaryConfig
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.spec("binary", "packed")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_packed_layout(target, dtype, data):
    """``packed()`` equals the reference's ``pack()``: qweight bitwise, scale within the
    bound; the unused high bits of the last byte are zero."""
    check(target, data.draw(xs.binary_cases(dtype, centre=None, action="packed"),
                            label="case"))


@pytest.mark.spec("binary", "packed")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_latent_forward_agrees_with_packed_table(target, dtype, data):
    """The latent forward equals, bitwise, ``forward_packed`` and the dequantised rows of
    the layer's own packed table."""
    check_packed_agreement(target, data.draw(xs.binary_cases(dtype, centre=None),
                                             label="case"))


@pytest.mark.spec("binary", "forward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_forward(target, dtype, data):
    """``±scale`` per bit, any index tensor, with and without centring."""
    check(target, data.draw(xs.binary_cases(dtype, centre=None), label="case"))


@pytest.mark.spec("binary", "backward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_straight_through_gradient(target, dtype, data):
    """``grad_weight[r] = scale[r] * sum of the output gradients at id r``."""
    check(target, data.draw(xs.binary_cases(dtype, centre=None, backward=True), label="case"))


@pytest.mark.spec("binary", "padding_idx")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_padding_row_outputs_zeros(target, dtype, data):
    """Whatever the padding row stores and whatever D (multiples of 8 or not), padding
    positions output exact zeros and the padding row gets no gradient."""
    check(target, data.draw(xs.binary_cases(dtype, padding=True, include_padding=True,
                                            backward=True), label="case"))


@pytest.mark.spec("binary", "padding_idx")
@given(data=st.data())
def test_padding_row_packs_to_zero_scale(target, data):
    """The padding row packs as a zero row: real bits 1, scale 0."""
    check(target, data.draw(xs.binary_cases(padding=True, action="packed"), label="case"))


@pytest.mark.spec("binary", "init")
@pytest.mark.parametrize(("num_embeddings", "embedding_dim", "padding_idx"), [
    pytest.param(512, 16, 3, id="512x16-pad3"),
    pytest.param(40, 203, None, id="40x203"),
])
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
def test_init(target, seed, dtype, num_embeddings, embedding_dim, padding_idx):
    """S5: the latent table is drawn from N(0, 1), its padding row exactly zero (so it
    packs to scale 0)."""
    config = BinaryConfig(num_embeddings, embedding_dim, padding_idx=padding_idx,
                          dtype=xs.torch_dtype(dtype))
    check_initialisation(target, Case(config=config, action="build"), seed=seed)
