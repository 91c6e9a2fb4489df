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
from embedspec.conformance import harness
from embedspec.conformance import strategies as xs
from hypothesis import given
from hypothesis import strategies as st

target = harness.target_fixture()


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
BAD_INDICES = {"out_of_range": (xs.out_of_range_index_tensors, IndexError),
               "bad_dtype": (xs.bad_dtype_index_tensors, TypeError)}


@pytest.mark.parametrize("family", families("forward"))
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_output_shape_dtype_device(target, family, dtype, data):
    """S0.1: shape ``indices.shape + (D,)``, the family's dtype, the weight's device,
    for every index layout."""
    config = data.draw(xs.configs(family, dtype), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
    harness.check_against_reference(target, target.case(config, state, indices))


@pytest.mark.parametrize("family", families("forward"))
@given(data=st.data())
def test_output_is_a_fresh_tensor(target, family, data):
    """S0.1: writing into the output never changes the layer's state."""
    config = data.draw(xs.configs(family), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
    harness.check_against_reference(target, target.case(config, state, indices,
                                                         write_output=True),
                                    properties=("state_unchanged",))


@pytest.mark.parametrize("family", families("errors"))
@given(data=st.data())
def test_bad_index_dtype_raises_type_error(target, family, data):
    """S0.2: bool, uint8, int16 and float32 indices raise TypeError."""
    config = data.draw(xs.configs(family), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.bad_dtype_index_tensors(config.num_embeddings), label="indices")
    harness.check_error(target, target.case(config, state, indices), TypeError)


@pytest.mark.parametrize("family", families("errors"))
@given(data=st.data())
def test_out_of_range_id_raises_index_error(target, family, data):
    """S0.3: an id that is negative, equal to V or larger raises IndexError."""
    config = data.draw(xs.configs(family), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.out_of_range_index_tensors(config.num_embeddings), label="indices")
    harness.check_error(target, target.case(config, state, indices), IndexError)


@pytest.mark.parametrize("family", families("errors"))
@pytest.mark.parametrize("kind", sorted(BAD_INDICES))
@given(data=st.data())
def test_errors_leave_state_unchanged(target, family, kind, data):
    """S0.4: with a max_norm of 0 (which would zero any referenced row), a bad index
    tensor holding valid ids too raises and leaves every parameter bitwise unchanged."""
    bad_indices, error = BAD_INDICES[kind]
    config = data.draw(xs.configs(family, **ATOMICITY_OPTIONS[family]), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(bad_indices(config.num_embeddings), label="indices")
    harness.check_error(target, target.case(config, state, indices), error)


@pytest.mark.parametrize("family", families("errors"))
@given(data=st.data())
def test_bad_config_raises_value_error(target, family, data):
    """S0.5: one bad argument raises ValueError naming it, at construction."""
    invalid = data.draw(xs.invalid_configs(family), label="invalid_config")
    harness.check_error(target, target.case(invalid.config, action="build"), ValueError,
                        mentions=invalid.argument)


@pytest.mark.parametrize("family", families(FORWARD_DETERMINISM))
@given(data=st.data())
def test_forward_is_deterministic(target, family, data):
    """S0.6: repeated forwards give bitwise identical outputs."""
    config = data.draw(xs.configs(family), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
    harness.check_repeatable(target, target.case(config, state, indices, repeat=3))


@pytest.mark.parametrize("family", families(BACKWARD_DETERMINISM))
@given(data=st.data())
def test_backward_is_repeatable(target, family, data):
    """S0.6: repeated backward passes agree bitwise for a backend declaring
    ``deterministic_backward``, otherwise within the accumulation bound."""
    config = data.draw(xs.configs(family), label="config")
    state = data.draw(xs.states(config), label="state")
    indices = data.draw(xs.index_tensors(config.num_embeddings,
                                         distributions=("zipf", "duplicates")),
                        label="indices")
    grad_output = data.draw(xs.grad_outputs_for(config, indices), label="grad_output")
    harness.check_repeatable(target, target.case(config, state, indices, grad_output))
