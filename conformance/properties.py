"""Named properties a test may require on top of the reference comparison
(:data:`PROPERTIES`): each takes the case, the backend's outcome and the reference's,
and fails with an ``AssertionError`` saying what does not hold."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from embedspec.conformance.assertions import (
    assert_exact,
    assert_state_unchanged,
    assert_zero_where,
)
from embedspec.conformance.case import Case, RankOutcome
from embedspec.conformance.compare_common import padding_idx


def _padding_mask(case: Case) -> torch.Tensor:
    padding = padding_idx(case.config)
    if padding is None:
        raise ValueError("this property needs a configuration with padding_idx")
    return case.inputs[0] == padding


def _padding_gradient_is_zero(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    grad = actual.grads["weight"]
    if grad.layout == torch.sparse_coo:
        grad = grad.to_dense()
    rows = torch.zeros(grad.shape[0], dtype=torch.bool)
    rows[padding_idx(case.config)] = True
    assert_zero_where(grad, rows.unsqueeze(1), what="gradient of the padding row")


def _padding_output_is_zero(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    assert_zero_where(actual.output, _padding_mask(case).unsqueeze(-1),
                      what="output at padding positions")


def _padding_output_is_stored_row(case: Case, actual: RankOutcome,
                                  expected: RankOutcome) -> None:
    positions = _padding_mask(case)
    stored = case.states[0]["weight"][padding_idx(case.config)]
    assert_exact(actual.output[positions], stored.expand(int(positions.sum()), -1),
                 what="output at padding positions (the stored padding row)")


def _unused_bits_are_zero(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    qweight = actual.extra["packed"]["qweight"]
    used = case.config.embedding_dim % 8
    if used and qweight.numel():
        assert_zero_where(qweight[:, -1] >> used, torch.ones((), dtype=torch.bool),
                          what=f"unused high bits of the last byte (D % 8 = {used})")


def _state_unchanged(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    assert_state_unchanged(case.states[0], actual.state_after, what="state after the forward")


PROPERTIES: Mapping[str, Callable[[Case, RankOutcome, RankOutcome], None]] = {
    "padding_gradient_is_zero": _padding_gradient_is_zero,
    "padding_output_is_zero": _padding_output_is_zero,
    "padding_output_is_stored_row": _padding_output_is_stored_row,
    "unused_bits_are_zero": _unused_bits_are_zero,
    "state_unchanged": _state_unchanged,
}
"""Properties a test may require in addition to the reference comparison, by name."""
