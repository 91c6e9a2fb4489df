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
import torch
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks import Case, check, check_initialisation
from embedspec.reference.configs import StableEmbeddingConfig
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.spec("stable", "forward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_forward_is_layer_norm_of_rows(target, dtype, data):
    """Any table, any norm parameters, any index tensor."""
    check(target, data.draw(xs.stable_cases(dtype), label="case"))


@pytest.mark.spec("stable", "padding_idx")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_padding_positions(target, dtype, data):
    """A zero padding row outputs the norm's bias; the padding row gets no gradient
    while the norm's parameters get the padding positions' gradient."""
    case = data.draw(xs.stable_cases(dtype, padding=True, include_padding=True, backward=True),
                     label="case")
    padding = case.config.padding_idx % case.config.num_embeddings
    case.states[0]["weight"][padding] *= data.draw(st.sampled_from([0.0, 1.0]),
                                                   label="padding_row_factor")
    check(target, case)


@pytest.mark.spec("stable", "max_norm")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_max_norm_renorms_before_the_norm(target, dtype, data):
    """Referenced rows are renormalised in place (S1.2), then normalised."""
    check(target, data.draw(xs.stable_cases(dtype, max_norm=True), label="case"))


@pytest.mark.spec("stable", "backward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_backward(target, dtype, data):
    """Gradients of the table, the norm weight and the norm bias."""
    check(target, data.draw(xs.stable_cases(dtype, backward=True), label="case"))


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
    check_initialisation(target, Case(config=config, action="build"), seed=seed)


@pytest.mark.spec("stable", "init")
def test_reset_parameters_reinitialises_the_table_only(target, seed):
    """``reset_parameters()`` draws the table again (Xavier-uniform, padding row zero) and,
    as bitsandbytes, leaves the norm's parameters as they are."""
    config = StableEmbeddingConfig(512, 16, padding_idx=3)
    state = {"weight": torch.full((512, 16), 7.0), "norm.weight": torch.full((16,), 2.0),
             "norm.bias": torch.full((16,), -1.0)}
    check_initialisation(target, Case(config=config, states=[state], action="reset_parameters"),
                         seed=seed)


@pytest.mark.spec("stable", "forward")
@pytest.mark.parametrize(("num_embeddings", "embedding_dim"), [(0, 3), (4, 0), (0, 0)],
                         ids=["V0", "D0", "V0-D0"])
@given(data=st.data())
def test_degenerate_sizes(target, num_embeddings, embedding_dim, data):
    """V = 0 and D = 0 are legal (F1.6, S2): an empty table takes only empty indices, a
    D = 0 layer returns ``indices.shape + (0,)``."""
    check(target, data.draw(xs.stable_cases(num_embeddings=st.just(num_embeddings),
                                            embedding_dim=st.just(embedding_dim)),
                            label="case"))


@pytest.mark.spec("stable", "backward")
@pytest.mark.parametrize("flag", ["sparse", "scale_grad_by_freq"])
@given(data=st.data())
def test_lookup_options_pass_through(target, flag, data):
    """S2: ``sparse`` and ``scale_grad_by_freq`` reach the lookup: a sparse table gradient,
    or contributions divided by their id's count."""
    case = data.draw(xs.stable_cases(backward=True), label="case")
    case.config = case.config.replace(**{flag: True})
    check(target, case)


@pytest.mark.spec("stable", "forward")
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@given(data=st.data())
def test_a_changed_default_dtype_changes_nothing(target, dtype, data):
    """S2 (vs bitsandbytes, D-stable-norm-dtype): the norm's dtype follows the table's,
    not the global default dtype, at construction and in the forward."""
    case = data.draw(xs.stable_cases(dtype, backward=True), label="case")
    case.default_dtype = torch.float64
    check(target, case)


@pytest.mark.spec("stable", "init")
@pytest.mark.parametrize("freeze", [True, False], ids=["frozen", "trainable"])
@given(data=st.data())
def test_from_pretrained_uses_the_table_itself(target, freeze, data):
    """S1.6, S2: ``from_pretrained(table)`` builds a stable layer on ``table`` itself
    (padding row as given), with a fresh norm (weight 1, bias 0); frozen unless
    ``freeze=False``."""
    case = data.draw(xs.stable_cases(padding=None, backward=True, action="from_pretrained",
                                     freeze=freeze), label="case")
    state = case.states[0]
    state["norm.weight"] = torch.ones_like(state["norm.weight"])
    state["norm.bias"] = torch.zeros_like(state["norm.bias"])
    check(target, case)
