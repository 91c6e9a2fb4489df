"""Spec S1.2, max_norm: referenced rows above the norm are renormalised in place.

Before the lookup every row the input references (once, however often) whose
``norm_type``-norm (on absolute values) is strictly greater than ``max_norm`` is
multiplied by ``max_norm / (norm + 1e-7)``. Every other row stays bitwise untouched;
the lookup reads the renormalised rows; gradients flow as if the renorm had not
happened. The renorm involves a norm (an accumulation), so renormalised rows are
compared within the S0.7 bound, and a row whose norm is within rounding of
``max_norm`` may go either way.
"""

from __future__ import annotations

import pytest
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks import Case, check
from hypothesis import given
from hypothesis import strategies as st


@st.composite
def exact_norm_cases(draw: st.DrawFn, dtype: str, norm_type: float) -> Case:
    """A case with ``max_norm`` equal, exactly, to the norm of one referenced row."""
    config = draw(xs.embedding_configs(dtype, embedding_dim=st.integers(2, 9)),
                  label="config")
    exact, norm = draw(xs.exact_norm_rows(config.embedding_dim, config.dtype, norm_type),
                       label="exact_row")
    config = config.replace(max_norm=norm, norm_type=norm_type)
    state = draw(xs.states(config), label="state")
    row = draw(st.integers(0, config.num_embeddings - 1), label="row")
    state["weight"][row] = exact
    indices = draw(xs.index_tensors(config.num_embeddings, include=[row]), label="indices")
    return Case(config=config, states=[state], inputs=[indices])


@pytest.mark.spec("embedding", "max_norm")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_renorm_referenced_rows(target, dtype, data):
    """Referenced rows above max_norm are renormalised, every other row is bitwise
    untouched, and the output is the stored (renormalised) rows."""
    check(target, data.draw(xs.embedding_cases(dtype, max_norm=True), label="case"))


@pytest.mark.spec("embedding", "max_norm")
@pytest.mark.parametrize("distribution", ["duplicates", "zipf"])
@given(data=st.data())
def test_repeated_ids_renorm_once(target, distribution, data):
    """A row referenced many times is renormalised once."""
    indices = {"distributions": (distribution,), "layouts": ("contiguous", "transposed")}
    check(target, data.draw(xs.embedding_cases(max_norm=True, indices=indices), label="case"))


@pytest.mark.spec("embedding", "max_norm")
@pytest.mark.parametrize("norm_type", list(xs.EXACT_NORM_ROWS), ids=["p1", "p2", "pinf"])
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_norm_equal_to_max_norm_is_not_renormalised(target, dtype, norm_type, data):
    """The comparison is strict: a row whose norm equals max_norm exactly stays bitwise."""
    check(target, data.draw(exact_norm_cases(dtype, norm_type), label="case"))


@pytest.mark.spec("embedding", "max_norm")
@given(data=st.data())
def test_max_norm_zero_zeroes_referenced_rows(target, data):
    """``max_norm = 0`` turns every referenced non-zero row into zeros."""
    check(target, data.draw(xs.embedding_cases(max_norm=0.0), label="case"))


@pytest.mark.spec("embedding", "max_norm")
@pytest.mark.parametrize("norm_type", [1.0, 3.0, 0.5], ids=["p1", "p3", "p0.5"])
@given(data=st.data())
def test_norms_use_absolute_values(target, norm_type, data):
    """Rows of negative values are measured by ``(sum |w|^p)^(1/p)``, for odd and
    fractional ``p`` too."""
    case = data.draw(xs.embedding_cases(max_norm=True), label="case")
    case.config = case.config.replace(norm_type=norm_type)
    case.states[0]["weight"] = -case.states[0]["weight"].abs()
    check(target, case)


@pytest.mark.spec("embedding", "max_norm")
@given(data=st.data())
def test_padding_row_is_renormalised_when_referenced(target, data):
    """The padding row is renormalised like any other referenced row."""
    check(target, data.draw(xs.embedding_cases(max_norm=True, padding=True,
                                               include_padding=True), label="case"))


@pytest.mark.spec("embedding", "max_norm")
@given(data=st.data())
def test_empty_input_changes_nothing(target, data):
    """An empty index tensor renormalises nothing."""
    check(target, data.draw(xs.embedding_cases(max_norm=True, indices={"layouts": ("empty",)}),
                            label="case"))


@pytest.mark.spec("embedding", "max_norm")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_renorm_is_invisible_to_autograd(target, dtype, data):
    """The weight gradient is the plain lookup's, as if no renorm had happened."""
    check(target, data.draw(xs.embedding_cases(dtype, max_norm=True, backward=True),
                            label="case"))
