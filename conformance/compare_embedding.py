"""How an embedding forward is judged (S1): the output is a gather, exact in every
dtype; with ``max_norm`` the table after the forward holds the referenced rows
renormalised (S1.2), within the renorm bound, and the output gathers the rows the
backend stored; the weight gradient is within its accumulation bound (S0.7).

:func:`compare_weight_state` is shared with the stable family, whose lookup is an
embedding's.
"""

from __future__ import annotations

import torch
from embedspec.conformance import tolerance
from embedspec.conformance.assertions import (
    assert_exact,
    assert_rows_unchanged_except,
    assert_within,
)
from embedspec.conformance.case import Case, RankOutcome
from embedspec.conformance.compare_common import compare_grads, compare_output_meta, padding_idx
from embedspec.reference.embedding import RENORM_EPS


def _renormalised_alternative(before: torch.Tensor, rows: torch.Tensor, max_norm: float,
                              norm_type: float) -> torch.Tensor:
    """``before`` rows renormalised in float64 (the other side of an ambiguous decision)."""
    selected = before[rows].to(torch.float64)
    norms = tolerance.row_norms(before[rows], norm_type).unsqueeze(1)
    return (selected * (max_norm / (norms + RENORM_EPS))).to(before.dtype)


def _expected_weight_after(case: Case, actual: RankOutcome, expected: RankOutcome,
                           renorm: tolerance.RenormBound) -> torch.Tensor:
    """The reference's weight after the forward, where each ambiguous row (norm within
    rounding of ``max_norm``) takes whichever acceptable value is nearer the backend's."""
    before = case.states[0]["weight"]
    want = expected.state_after["weight"].clone()
    rows = renorm.ambiguous.nonzero().reshape(-1)
    if rows.numel() == 0:
        return want
    got = actual.state_after["weight"][rows].to(torch.float64)
    config = case.config
    renormed = want[rows].to(torch.float64).ne(before[rows].to(torch.float64)).any(dim=1)
    other = torch.where(renormed.unsqueeze(1), before[rows],
                        _renormalised_alternative(before, rows, config.max_norm,
                                                  config.norm_type))
    closer = ((got - other.to(torch.float64)).abs().amax(dim=1)
              < (got - want[rows].to(torch.float64)).abs().amax(dim=1))
    want[rows[closer]] = other[closer]
    return want


def compare_weight_state(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    """The table after a forward: untouched without max_norm; with it, only referenced
    rows may change, each within the renorm bound of the reference's (S1.2)."""
    for key in expected.state_after:
        if key != "weight" or case.config.max_norm is None:
            assert_exact(actual.state_after[key], expected.state_after[key],
                         what=f"state {key!r} after the forward")
    if case.config.max_norm is None:
        return
    before = case.states[0]["weight"]
    renorm = tolerance.renormalisation(before, case.inputs[0], case.config.max_norm,
                                       case.config.norm_type)
    after = actual.state_after["weight"]
    renormed = (expected.state_after["weight"].to(torch.float64)
                != before.to(torch.float64)).any(dim=1)
    may_change = (renormed | renorm.ambiguous).nonzero().reshape(-1)
    assert_rows_unchanged_except(
        before, after, may_change,
        what="weight after the forward (rows not referenced, or with a norm clearly "
             "<= max_norm)")
    assert_within(after, _expected_weight_after(case, actual, expected, renorm), renorm.bound,
                  what="weight after the max_norm renorm (referenced rows)")


def compare_embedding(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    """An embedding forward (and backward) against the reference's (S1)."""
    compare_weight_state(case, actual, expected)
    compare_output_meta(case, actual, expected)
    if case.config.max_norm is None:
        assert_exact(actual.output, expected.output, what="output (a gather)")
    else:
        rows = actual.state_after["weight"][case.inputs[0].to(torch.int64)]
        assert_exact(actual.output, rows,
                     what="output (a gather of the rows the backend renormalised and stored)")
    if case.grad_outputs is None:
        return
    config = case.config
    bound = tolerance.weight_gradient(
        case.inputs[0], case.grad_outputs[0], config.num_embeddings,
        padding_idx=padding_idx(config), scale_grad_by_freq=config.scale_grad_by_freq,
        dtype=expected.grads["weight"].dtype)
    compare_grads(actual, expected, {"weight": bound})
