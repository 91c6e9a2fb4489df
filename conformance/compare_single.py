"""A backend's one-process outcome against the reference's (:func:`compare`): the
reference's error class with the state left as loaded (S0.4), or no error, the
reference's state layout and the comparison of the case's action (and, for a
forward, of the config's family)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from embedspec.conformance.assertions import (
    assert_error,
    assert_no_error,
    assert_state_unchanged,
    error_class,
)
from embedspec.conformance.case import Case, RankOutcome
from embedspec.conformance.compare_binary import compare_binary, compare_packed
from embedspec.conformance.compare_common import compare_state_meta
from embedspec.conformance.compare_embedding import compare_embedding
from embedspec.conformance.compare_stable import compare_stable

FORWARD_COMPARISONS: Mapping[str, Callable[[Case, RankOutcome, RankOutcome], None]] = {
    "embedding": compare_embedding,
    "stable": compare_stable,
    "binary": compare_binary,
}
"""The comparison of a forward, by family."""


def compare(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    """Compare a backend's outcome with the reference's as the spec and S0.7 say."""
    if expected.error is not None:
        assert_error(actual, error_class(expected.error.type))
        if case.states:
            assert_state_unchanged(case.states[0], actual.state_after,
                                   what="state after the error (S0.4)")
        return
    assert_no_error(actual)
    compare_state_meta(actual.state_after, expected.state_after)
    if case.action == "forward":
        FORWARD_COMPARISONS[case.config.family](case, actual, expected)
    elif case.action == "forward_packed":
        compare_binary(case, actual, expected)
    elif case.action == "packed":
        compare_packed(case, actual, expected)
    elif case.action != "build":
        raise ValueError(f"the single-process harness has no comparison for action "
                         f"{case.action!r}")
