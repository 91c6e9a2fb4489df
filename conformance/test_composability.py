"""Composability (``docs/spec/composability.md``): a layer keeps the spec's semantics under
PyTorch's program transforms.

* ``compile``: ``torch.compile(fullgraph=True)`` traces the whole layer (no Python branch
  on tensor values), and the compiled layer equals the eager one: a gather bitwise,
  gradients and the ``max_norm`` renorm within their bounds, the same errors with the
  state unchanged. The profile caps these tests' examples and picks the compiler.
* ``export``: ``torch.export`` captures the forward, and the exported program gives the
  eager output and state (renorm included) and raises the eager errors.
* ``forward_ad``: the tangent of the output is the lookup of the table's tangent with the
  backward's rules (padding positions zero, ``scale_grad_by_freq`` divides by the
  count), so forward and reverse mode have one Jacobian; the renorm does not enter it.
* ``vmap``: over a batch of index tensors the layer equals the stacked per-sample
  forwards, and per-sample gradients equal the per-sample backwards; with ``max_norm``
  (a mutation of the shared table) it raises ``RuntimeError``, the table unchanged.
* ``double_backward``: the backward can be differentiated: zero with respect to the
  weight, the forward-mode tangent of the direction with respect to the output gradient.
"""

from __future__ import annotations

from typing import Any

import pytest
from embedspec.backends.contract import FEATURES
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks import Case, check
from embedspec.conformance.checks.expected.common import padding_row
from hypothesis import assume, given
from hypothesis import strategies as st

#: The options a case of each family draws (each on or off), for the transforms that apply
#: to all of them.
OPTIONS: dict[str, dict[str, Any]] = {
    "embedding": {"padding": None, "max_norm": None, "scale_grad_by_freq": None,
                  "sparse": False},
    "stable": {"padding": None, "max_norm": None},
    "binary": {"padding": None, "centre": None},
}
#: Index layouts with a leading dimension of at least one to vmap over.
VMAP_LAYOUTS = {"layouts": ("contiguous", "transposed", "strided")}
#: Index layouts holding at least one id.
NON_EMPTY_LAYOUTS = {"layouts": ("contiguous", "scalar", "transposed", "strided")}
#: Options under which an error could change state if checks came late (S0.4).
ATOMICITY_OPTIONS = {"embedding": {"max_norm": 0.0}, "stable": {"max_norm": 0.0},
                     "binary": {}}


def families(feature: str) -> list:
    """One parameter per single-process family that has ``feature``, tagged with it."""
    return [pytest.param(family, marks=pytest.mark.spec(family, feature), id=family)
            for family in xs.SINGLE_PROCESS_FAMILIES if feature in FEATURES[family]]


def options(family: str, **overrides: Any) -> dict[str, Any]:
    """The family's :data:`OPTIONS` with ``overrides`` for the options it has."""
    chosen = dict(OPTIONS[family])
    chosen.update({k: v for k, v in overrides.items() if k in chosen})
    return chosen


# -- compile ------------------------------------------------------------------------------


@pytest.mark.parametrize("family", families("compile"))
@given(data=st.data())
def test_compiled_layer_equals_eager(target, profile, family, data):
    """``torch.compile(layer, fullgraph=True, dynamic=False)``: the output, the gradients
    and the renormalised table of the eager layer."""
    case = data.draw(xs.family_cases(family, backward=True, transform="compile",
                                     compiler=profile.compiler, **options(family)),
                     label="case")
    check(target, case)


@pytest.mark.parametrize("family", families("compile"))
@given(data=st.data())
def test_compiled_layer_raises_index_error(target, profile, family, data):
    """S0.3, S0.4 under compile: an out-of-range id raises IndexError, leaving every
    parameter as it was (no device assert, no renorm before the check)."""
    case = data.draw(xs.family_cases(family, invalid_indices="out_of_range",
                                     transform="compile", compiler=profile.compiler,
                                     **ATOMICITY_OPTIONS[family]), label="case")
    assume(xs.renorm_would_show(case))
    check(target, case, error=IndexError)


# -- export -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", families("export"))
@given(data=st.data())
def test_exported_program_equals_eager(target, family, data):
    """``torch.export.export(layer, (indices,))``: the program's output and state are the
    eager layer's."""
    case = data.draw(xs.family_cases(family, transform="export", **options(family, sparse=None)),
                     label="case")
    check(target, case)


@pytest.mark.parametrize("family", families("export"))
@given(data=st.data())
def test_exported_program_raises_index_error(target, family, data):
    """S0.3, S0.4 in an exported program: the check of the ids is part of the program."""
    case = data.draw(xs.family_cases(family, invalid_indices="out_of_range",
                                     transform="export", **ATOMICITY_OPTIONS[family]),
                     label="case")
    assume(xs.renorm_would_show(case))
    check(target, case, error=IndexError)


# -- forward-mode AD ------------------------------------------------------------------------


@pytest.mark.parametrize("family", families("forward_ad"))
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_forward_ad_tangent(target, family, dtype, data):
    """``torch.func.jvp`` with respect to the parameters: the primal output and state of
    the eager forward, and the tangent of the backward's Jacobian (no padding row, ids
    not counted: the next test takes those)."""
    chosen = options(family, padding=False, scale_grad_by_freq=False, sparse=None,
                     max_norm=None if family == "embedding" else False)
    case = data.draw(xs.family_cases(family, dtype, transform="forward_ad", **chosen),
                     label="case")
    check(target, case)


@pytest.mark.parametrize("family", families("forward_ad"))
@given(data=st.data())
def test_forward_ad_of_padding_and_repeated_ids(target, family, data):
    """Padding positions have a zero tangent (S1.1) and, with ``scale_grad_by_freq``, a
    repeated id's tangent is divided by its count (S1.3), as in the backward. The
    padding row's tangent is one that ignoring the rule would show."""
    chosen = options(family, padding=True, scale_grad_by_freq=True, max_norm=False)
    case = data.draw(xs.family_cases(family, transform="forward_ad", include_padding=True,
                                     indices={"distributions": ("duplicates", "zipf")},
                                     **chosen), label="case")
    assume(padding_tangent_shows(case))
    check(target, case)


def padding_tangent_shows(case: Case) -> bool:
    """Whether the table's tangent at the padding row reaches the output when the padding
    rule is ignored: a nonzero row, or for the stable family a row that the layer norm
    of the (zero) padding row passes on, ``norm.weight * (row - mean(row))``."""
    row = case.tangents[0]["weight"][padding_row(case.config)].double()
    if case.config.family == "stable":
        row = case.states[0]["norm.weight"].double() * (row - row.mean())
    return bool(row.any())


# -- vmap ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", families("vmap"))
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_vmap_over_indices_and_backward(target, family, dtype, data):
    """``vmap`` over dim 0 of the indices equals the stacked per-sample forwards, and the
    per-sample gradients (``vmap`` of ``vjp``) the per-sample backwards."""
    case = data.draw(xs.family_cases(family, dtype, backward=True, transform="vmap",
                                     indices=VMAP_LAYOUTS, **options(family, max_norm=False)),
                     label="case")
    check(target, case)


@pytest.mark.parametrize("family", [p for p in families("vmap")
                                    if "max_norm" in OPTIONS[p.values[0]]])
@given(data=st.data())
def test_vmap_with_max_norm_raises(target, family, data):
    """A layer with ``max_norm`` renormalises the table all samples share: under ``vmap``
    it raises RuntimeError and leaves the table as loaded (S0.4)."""
    case = data.draw(xs.family_cases(family, transform="vmap", indices=VMAP_LAYOUTS,
                                     **options(family, max_norm=True)), label="case")
    check(target, case, error=RuntimeError)


# -- double backward ----------------------------------------------------------------------


@pytest.mark.parametrize("family", families("double_backward"))
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_double_backward(target, family, dtype, data):
    """The backward with ``create_graph=True``, differentiated again: the first-order
    gradients of the eager backward, a zero derivative with respect to the parameters,
    and the tangent of the direction with respect to the output gradient (ids not
    counted, at least one id; the next two tests take those cases)."""
    case = data.draw(xs.family_cases(family, dtype, backward=True, transform="double_backward",
                                     indices=NON_EMPTY_LAYOUTS,
                                     **options(family, scale_grad_by_freq=False)),
                     label="case")
    check(target, case)


@pytest.mark.parametrize("family", [p for p in families("double_backward")
                                    if "scale_grad_by_freq" in OPTIONS[p.values[0]]])
@given(data=st.data())
def test_double_backward_divides_by_frequency(target, family, data):
    """With ``scale_grad_by_freq`` the derivative with respect to the output gradient is
    the backward's own linear map, so it is divided by the counts too: row 0 occurs at
    least twice and its direction is not zero."""
    case = data.draw(xs.family_cases(family, backward=True, transform="double_backward",
                                     indices={"include": (0, 0)},
                                     **options(family, padding=False, scale_grad_by_freq=True)),
                     label="case")
    assume(bool(case.tangents[0]["weight"][0].any()))
    check(target, case)


@pytest.mark.parametrize("family", families("double_backward"))
@given(data=st.data())
def test_double_backward_of_empty_indices(target, family, data):
    """An empty index tensor: the backward and its derivative are zero (no id, no row)."""
    case = data.draw(xs.family_cases(family, backward=True, transform="double_backward",
                                     indices={"layouts": ("empty",)}, **options(family)),
                     label="case")
    check(target, case)
