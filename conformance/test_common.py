"""Spec section 0: the rules every single-process family shares.

S0.1 output shape, dtype, device and freshness; S0.2 ``TypeError`` for index dtypes
other than int32/int64; S0.3 ``IndexError`` for out-of-range ids; S0.4 errors leave
every parameter exactly as it was; S0.5 ``ValueError`` naming the argument for a bad
configuration; S0.6 determinism. Each test runs for every family; which feature of a
family it belongs to is data (:func:`families`), so capability skips stay declarative.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks import check, check_repeatable
from hypothesis import assume, given
from hypothesis import strategies as st


def families(feature: str | Mapping[str, str]) -> list:
    """One parameter per single-process family, tagged with its (family, feature)."""
    features = {f: feature for f in xs.SINGLE_PROCESS_FAMILIES} if isinstance(feature, str) \
        else dict(feature)
    return [pytest.param(family, marks=pytest.mark.spec(family, features[family]), id=family)
            for family in xs.SINGLE_PROCESS_FAMILIES]


#: The feature a determinism check belongs to in each family (S0.6).
FORWARD_DETERMINISM = {"embedding": "determinism", "stable": "forward", "binary": "forward"}
BACKWARD_DETERMINISM = {"embedding": "determinism", "stable": "backward", "binary": "backward"}
#: Options under which an error could change state if checks came late (S0.4): a
#: max_norm renorm for the families that have one.
ATOMICITY_OPTIONS = {"embedding": {"max_norm": 0.0, "padding": None},
                     "stable": {"max_norm": 0.0}, "binary": {"padding": None}}
#: Each kind of bad index tensor and the error it must raise.
BAD_INDICES = {"out_of_range": IndexError, "bad_dtype": TypeError, "not_a_tensor": TypeError}


@pytest.mark.parametrize("family", families("forward"))
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_output_shape_dtype_device(target, family, dtype, data):
    """S0.1: shape ``indices.shape + (D,)``, the family's dtype, the weight's device,
    for every index layout."""
    check(target, data.draw(xs.family_cases(family, dtype), label="case"))


@pytest.mark.parametrize("family", families("forward"))
@given(data=st.data())
def test_output_is_a_fresh_tensor(target, family, data):
    """S0.1: writing into the output never changes the layer's state."""
    check(target, data.draw(xs.family_cases(family, write_output=True), label="case"))


@pytest.mark.parametrize("family", families("errors"))
@given(data=st.data())
def test_bad_index_dtype_raises_type_error(target, family, data):
    """S0.2: bool, uint8, int16 and float32 indices raise TypeError."""
    check(target, data.draw(xs.family_cases(family, invalid_indices="bad_dtype"), label="case"),
          error=TypeError)


@pytest.mark.parametrize("family", families("errors"))
@given(data=st.data())
def test_out_of_range_id_raises_index_error(target, family, data):
    """S0.3: an id that is negative, equal to V or larger raises IndexError."""
    check(target, data.draw(xs.family_cases(family, invalid_indices="out_of_range"),
                            label="case"), error=IndexError)


@pytest.mark.parametrize("family", families("errors"))
@pytest.mark.parametrize("kind", sorted(BAD_INDICES))
@given(data=st.data())
def test_errors_leave_state_unchanged(target, family, kind, data):
    """S0.4: with a max_norm of 0 (which would zero any referenced row), a bad index
    tensor holding valid ids too raises and leaves every parameter bitwise unchanged (a
    valid id references a nonzero row, so a renorm before the error would show)."""
    case = data.draw(xs.family_cases(family, invalid_indices=kind, **ATOMICITY_OPTIONS[family]),
                     label="case")
    assume(xs.renorm_would_show(case))
    check(target, case, error=BAD_INDICES[kind])


def config_rules() -> list:
    """One parameter per (family, validation rule), tagged with the family's errors row."""
    return [pytest.param(family, rule.name, marks=pytest.mark.spec(family, "errors"),
                         id=f"{family}-{rule.name}")
            for family in xs.SINGLE_PROCESS_FAMILIES for rule in xs.rules_of(family)]


@pytest.mark.parametrize(("family", "rule"), config_rules())
@given(data=st.data())
def test_bad_config_raises_value_error(target, family, rule, data):
    """S0.5 (and S1.1, S1.2, S1.4, S1.7, S5): a configuration breaking one validation
    rule raises ValueError naming the argument, at construction; one test per rule."""
    invalid = data.draw(xs.invalid_config_cases(family, rule), label="case")
    check(target, invalid.case, error=ValueError, mentions=invalid.argument)


@pytest.mark.parametrize("family", families("errors"))
@given(data=st.data())
def test_non_tensor_input_raises_type_error(target, family, data):
    """S0.2: indices that are not a tensor (a Python list of valid ids) raise TypeError."""
    check(target, data.draw(xs.family_cases(family, invalid_indices="not_a_tensor"),
                            label="case"), error=TypeError)


@pytest.mark.parametrize("family", families(FORWARD_DETERMINISM))
@given(data=st.data())
def test_forward_is_deterministic(target, family, data):
    """S0.6: repeated forwards give bitwise identical outputs."""
    check_repeatable(target, data.draw(xs.family_cases(family, repeat=3), label="case"))


@pytest.mark.parametrize("family", families(BACKWARD_DETERMINISM))
@given(data=st.data())
def test_backward_is_repeatable(target, family, data):
    """S0.6: repeated backward passes agree bitwise for a backend declaring
    ``deterministic_backward``, otherwise within the accumulation bound."""
    hot = {"distributions": ("zipf", "duplicates")}
    check_repeatable(target, data.draw(xs.family_cases(family, indices=hot, backward=True),
                                       label="case"))
