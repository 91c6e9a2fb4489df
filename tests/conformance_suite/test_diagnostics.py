"""Diagnostic notes name the rule a failing outcome breaks, and only a broken one."""

from __future__ import annotations

import pytest
import torch
from embedspec.conformance.checks import Case, RankOutcome
from embedspec.conformance.checks.diagnostics import annotate, broken_rules
from embedspec.reference.configs import BinaryConfig, EmbeddingConfig

WEIGHT = torch.arange(8.0).reshape(4, 2)


def _case(config, indices=None) -> Case:
    indices = torch.tensor([0, 1, 1]) if indices is None else indices
    return Case(config, states=[{"weight": WEIGHT.clone()}], inputs=[indices])


def test_a_padding_row_gradient_is_named():
    case = _case(EmbeddingConfig(4, 2, padding_idx=-3))
    grad = torch.zeros(4, 2)
    assert broken_rules(case, [RankOutcome(grads={"weight": grad},
                                           state_after={"weight": WEIGHT})]) == []
    grad[1, 0] = 1.0
    (note,) = broken_rules(case, [RankOutcome(grads={"weight": grad.to_sparse(1)},
                                              state_after={"weight": WEIGHT})])
    assert note.startswith("S1.1 broken") and "padding row 1" in note


def test_a_forward_that_writes_its_table_is_named_unless_max_norm():
    changed = WEIGHT.clone()
    changed[3] = 0.0
    outcome = RankOutcome(state_after={"weight": changed})
    (note,) = broken_rules(_case(EmbeddingConfig(4, 2)), [outcome])
    assert note.startswith("S0.1 broken") and "'weight'" in note
    assert broken_rules(_case(EmbeddingConfig(4, 2, max_norm=1.0)), [outcome]) == []


def test_binary_rules_are_named():
    config = BinaryConfig(4, 3, padding_idx=0)
    case = _case(config, torch.tensor([0, 2]))
    outcome = RankOutcome(output=torch.tensor([[1.0, 0.0, 0.0], [1.0, -1.0, 1.0]]),
                          state_after={"weight": WEIGHT},
                          extra={"packed": {"qweight": torch.tensor([[0x0F]] * 4,
                                                                    dtype=torch.uint8)}})
    notes = broken_rules(case, [outcome])
    assert any("unused high bits" in n for n in notes)
    assert any("padding positions of a binary layer" in n for n in notes)


def test_annotate_adds_the_notes_to_the_failure():
    case = _case(EmbeddingConfig(4, 2))
    outcome = RankOutcome(state_after={"weight": torch.zeros(4, 2)})
    with pytest.raises(AssertionError) as info, annotate(case, [outcome]):
        raise AssertionError("state differs")
    assert any(n.startswith("S0.1 broken") for n in info.value.__notes__)
