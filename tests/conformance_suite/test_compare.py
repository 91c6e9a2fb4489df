"""The comparison code itself: one outcome per process against its expectation, the
ambiguous-renorm choice, the backend's own stored rows, gradients and packed tables."""

from __future__ import annotations

import pytest
import torch
from embedspec.conformance.checks import Case, RankOutcome, World
from embedspec.conformance.checks.compare import (
    compare,
    compare_grads,
    compare_packed,
    compare_renormed,
    nearer_choice,
    stored_rows,
)
from embedspec.conformance.checks.expected import Expected, Renorm, StoredRows
from embedspec.conformance.checks.tolerance import Bound
from embedspec.reference.configs import EmbeddingConfig, ShardedConfig

BEFORE = torch.tensor([[3.0, 4.0], [1.0, 1.0], [0.6, 0.8]])
REFERENCE = torch.tensor([[0.6, 0.8], [1.0, 1.0], [0.6, 0.8]])
OTHER = torch.tensor([[0.6, 0.8], [1.0, 1.0], [0.5, 0.7]])


def _renorm(ambiguous: list[int]) -> Renorm:
    alternative = REFERENCE.clone()
    alternative[ambiguous] = OTHER[ambiguous]
    return Renorm(loaded=BEFORE, may_change=torch.tensor([0, *ambiguous]),
                  ambiguous=torch.tensor(ambiguous, dtype=torch.int64),
                  alternative=alternative, bound=Bound.of(4.0, BEFORE.abs(), torch.float32))


def test_an_ambiguous_row_takes_whichever_value_is_nearer():
    renorm = _renorm([2])
    assert torch.equal(nearer_choice(OTHER, REFERENCE, renorm)[2], OTHER[2])
    assert torch.equal(nearer_choice(REFERENCE, REFERENCE, renorm)[2], REFERENCE[2])
    compare_renormed(OTHER, REFERENCE, renorm)
    compare_renormed(REFERENCE, REFERENCE, renorm)


def test_the_other_value_is_wrong_where_nothing_is_ambiguous():
    with pytest.raises(AssertionError, match="only rows \\[0\\] may"):
        compare_renormed(OTHER, REFERENCE, _renorm([]))


def test_a_renorm_beyond_its_bound_fails():
    after = REFERENCE.clone()
    after[0] = torch.tensor([0.61, 0.8])
    with pytest.raises(AssertionError, match="after the max_norm renorm"):
        compare_renormed(after, REFERENCE, _renorm([]))


def test_an_output_must_be_the_backends_own_stored_rows():
    outcomes = [RankOutcome(state_after={"weight": BEFORE[:, :1]}),
                RankOutcome(state_after={"weight": BEFORE[:, 1:]})]
    ids = torch.tensor([[2, 0]])
    assert torch.equal(stored_rows(outcomes, StoredRows(ids, (0, 1))), BEFORE[ids])
    assert torch.equal(stored_rows(outcomes, StoredRows(ids, (0, 1), (1, 2))), BEFORE[ids][..., 1:])
    with pytest.raises(AssertionError, match="reported no stored 'weight'"):
        stored_rows([RankOutcome(), outcomes[1]], StoredRows(ids, (0, 1)))


def test_every_process_is_compared_and_named():
    config = ShardedConfig(3, 2)
    case = Case(config, inputs=[torch.tensor([1])] * 2, world=World(2))
    good = RankOutcome(output=BEFORE[:1], extra={"output_device": "cpu"})
    bad = RankOutcome(output=BEFORE[1:2], extra={"output_device": "cpu"})
    want = [Expected(output=BEFORE[:1]), Expected(output=BEFORE[:1])]
    compare(case, [good, good], want)
    with pytest.raises(AssertionError) as info:
        compare(case, [good, bad], want)
    assert "at process 1: rank 1 (world 2)" in info.value.__notes__
    with pytest.raises(AssertionError, match="returned 1 outcomes"):
        compare(case, [good], want)


def test_an_expected_error_needs_its_class_and_the_state_as_loaded():
    from embedspec.conformance.checks import ErrorInfo

    case = Case(EmbeddingConfig(3, 2), states=[{"weight": BEFORE}], inputs=[torch.tensor([5])])
    raised = ErrorInfo("IndexError", "id 5", ("IndexError", "LookupError", "Exception"))
    want = [Expected(error=LookupError, state_before={"weight": BEFORE})]
    compare(case, [RankOutcome(error=raised, state_after={"weight": BEFORE})], want)
    with pytest.raises(AssertionError, match=r"S0\.4"):
        compare(case, [RankOutcome(error=raised, state_after={"weight": REFERENCE})], want)
    with pytest.raises(AssertionError, match="but no error was raised"):
        compare(case, [RankOutcome(state_after={"weight": BEFORE})], want)


def test_gradients_are_all_there_and_within_their_bounds():
    exact = {"weight": torch.ones(3, 2)}
    compare_grads(exact, exact, {})
    with pytest.raises(AssertionError, match="gradients of"):
        compare_grads({}, exact, {})
    with pytest.raises(AssertionError, match="got None"):
        compare_grads({"weight": None}, exact, {})
    sparse = torch.ones(3, 2).to_sparse(1)
    with pytest.raises(AssertionError, match="sparse_coo"):
        compare_grads(exact, {"weight": sparse}, {})
    compare_grads({"weight": sparse}, {"weight": sparse}, {})


def test_packed_bits_are_exact_and_scales_bounded():
    want = {"qweight": torch.tensor([[5]], dtype=torch.uint8), "scale": torch.tensor([0.5])}
    bounds = {"scale": Bound.of(4.0, 0.5, torch.float32)}
    compare_packed({"qweight": want["qweight"], "scale": torch.tensor([0.5000001])}, want,
                   bounds)
    with pytest.raises(AssertionError, match="normative layout"):
        compare_packed({"qweight": torch.tensor([[4]], dtype=torch.uint8),
                        "scale": want["scale"]}, want, bounds)
    with pytest.raises(AssertionError, match="expected the fields"):
        compare_packed({"qweight": want["qweight"]}, want, bounds)
