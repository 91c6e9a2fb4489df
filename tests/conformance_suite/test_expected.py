"""The expectation code itself: what each family's :class:`Expected` holds and how
its S0.7 bounds are made, on hand-computed cases."""

from __future__ import annotations

import pytest
import torch
from embedspec.conformance.checks import Case, World
from embedspec.conformance.checks.expected import expected_outcomes
from embedspec.conformance.checks.expected.common import renorm_allowance
from embedspec.conformance.checks.expected.sharded import gradient_bound as sharded_bound
from embedspec.conformance.checks.expected.vocab_parallel import gradient_bound as vocab_bound
from embedspec.conformance.checks.states import process_states, vocab_row_map
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    ShardedConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)

TABLE = torch.tensor([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0], [1.0, 0.0]])


def _case(config, indices, grad=None, **fields) -> Case:
    return Case(config, states=[{"weight": TABLE.clone()}], inputs=[indices],
                grad_outputs=None if grad is None else [grad], **fields)


def test_embedding_max_norm_expects_the_stored_rows_and_a_renorm_allowance():
    config = EmbeddingConfig(4, 2, max_norm=1.0)
    (want,) = expected_outcomes(_case(config, torch.tensor([0, 1, 0])))
    assert want.output_reads is not None and want.output_bound is None
    assert want.renorm.may_change.tolist() == [0]  # row 1 has norm 0.5, row 2 is unused
    assert torch.equal(want.renorm.loaded, TABLE)
    allowed = want.renorm.bound.allowed(TABLE.shape)
    assert bool((allowed[0] > 0).all()) and bool((allowed[2:] == 0).all())


def test_embedding_without_max_norm_is_exact():
    (want,) = expected_outcomes(_case(EmbeddingConfig(4, 2), torch.tensor([[2, 3]])))
    assert want.renorm is None and want.output_reads is None and want.output_bound is None
    assert torch.equal(want.output, TABLE[torch.tensor([[2, 3]])])
    assert torch.equal(want.state_after["weight"], TABLE)


def test_gradient_bound_is_zero_for_the_padding_row_and_unreferenced_rows():
    config = EmbeddingConfig(4, 2, padding_idx=1)
    indices = torch.tensor([0, 1, 0, 1])
    (want,) = expected_outcomes(_case(config, indices, torch.ones(4, 2)))
    allowed = want.grad_bounds["weight"].allowed((4, 2))
    assert bool((allowed[1:] == 0).all()), "padding row 1 and rows 2, 3 must be exact"
    assert bool((allowed[0] > 0).all()), "row 0 sums two contributions"


def test_an_invalid_input_expects_its_error_and_the_state_as_loaded():
    (want,) = expected_outcomes(_case(EmbeddingConfig(4, 2, max_norm=0.0),
                                      torch.tensor([0, 4])))
    assert want.error is IndexError
    assert torch.equal(want.state_before["weight"], TABLE)
    (want,) = expected_outcomes(_case(EmbeddingConfig(4, 2), torch.tensor([0.0])))
    assert want.error is TypeError


def test_a_build_expects_the_reference_layout_only():
    (want,) = expected_outcomes(Case(StableEmbeddingConfig(3, 5), action="build"))
    assert set(want.state_layout) == {"weight", "norm.weight", "norm.bias"}
    assert want.state_after is None and want.output is None


def test_stable_bounds_every_gradient_and_the_output():
    config = StableEmbeddingConfig(4, 2)
    state = {"weight": TABLE.clone(), "norm.weight": torch.ones(2), "norm.bias": torch.zeros(2)}
    case = Case(config, states=[state], inputs=[torch.tensor([0, 2])],
                grad_outputs=[torch.ones(2, 2)])
    (want,) = expected_outcomes(case)
    assert set(want.grad_bounds) == {"weight", "norm.weight", "norm.bias"}
    assert want.output_bound is not None and bool((want.output_bound.allowed((2, 2)) > 0).all())


def test_binary_packed_bounds_the_scale_and_leaves_the_bits_exact():
    config = BinaryConfig(4, 2)
    (want,) = expected_outcomes(Case(config, states=[{"weight": TABLE.clone()}],
                                     action="packed"))
    assert set(want.packed) == {"qweight", "scale"} and set(want.packed_bounds) == {"scale"}


def test_a_single_process_family_has_no_world_of_several_processes():
    with pytest.raises(ValueError, match="single-process family"):
        expected_outcomes(Case(EmbeddingConfig(4, 2), world=World(2), action="build"))


def test_renorm_allowance_offers_the_other_value_of_an_ambiguous_row():
    """A row whose norm is within rounding of max_norm may be renormalised or not: the
    alternative is the row scaled when the reference kept it, the row as loaded when it
    scaled it."""
    before = torch.tensor([[3.0, 4.0], [0.6, 0.8]])
    norm = float(torch.linalg.vector_norm(before[0]))
    kept = renorm_allowance(before, torch.tensor([0]), norm * (1 - 1e-8), 2.0, before,
                            before.clone())
    assert kept.ambiguous.tolist() == [0]
    scaled = before[0].double() * (norm * (1 - 1e-8) / (norm + 1e-7))
    assert torch.equal(kept.alternative[0], scaled.float())
    renormed_after = before.clone()
    renormed_after[0] = scaled.float()
    took = renorm_allowance(before, torch.tensor([0]), norm * (1 - 1e-8), 2.0, before,
                            renormed_after)
    assert torch.equal(took.alternative[0], before[0])
    after = before.clone()
    after[0] = (before[0].double() * (2.0 / (5.0 + 1e-7))).float()
    clear = renorm_allowance(before, torch.tensor([0, 1]), 2.0, 2.0, before, after)
    assert clear.ambiguous.numel() == 0 and clear.may_change.tolist() == [0]
    assert torch.equal(clear.alternative, after), "no other value where nothing is ambiguous"


def test_vocab_parallel_gradient_bound_is_zero_on_vocab_padding_rows():
    config = VocabParallelConfig(10, 3, org_num_embeddings=8, padding_size=4)
    indices = torch.tensor([0, 5, 9, 9])
    bound = vocab_bound(config, 2, 1, indices, torch.ones(4, 3), torch.float32)
    row_map = vocab_row_map(config, 2, 1)
    allowed = bound.allowed((row_map.numel(), 3))
    assert bool((allowed[row_map < 0] == 0).all())
    assert bool((allowed[(row_map == 9).nonzero().reshape(-1)] > 0).all())


def test_sharded_gradient_bound_is_the_rank_column_block():
    config = ShardedConfig(4, 5)
    bound = sharded_bound(config, 2, 1, torch.tensor([1, 1]), torch.ones(2, 5),
                          torch.float32)
    full = sharded_bound(config.replace(gather_output=False), 2, 1, torch.tensor([1, 1]),
                         torch.ones(2, 5), torch.float32)
    # rank 1 of 2 holds columns [3, 5): the gathered layer's bound is those columns' only
    assert all(p.magnitude.shape[-1] == 2 for p in bound.parts)
    assert torch.equal(bound.allowed((4, 2)), full.allowed((4, 5))[:, 3:])


def test_sharded_expectations_cover_owners_and_leave_replicas_open():
    config = ShardedConfig(4, 2, max_norm=1.0)
    world = World(2, dp_size=2)
    states = process_states(config, world, TABLE)
    inputs = [torch.tensor([0]), torch.tensor([0]), torch.tensor([2]), torch.tensor([2])]
    want = expected_outcomes(Case(config, states=states, inputs=inputs, world=world))
    assert [w.state_after is not None for w in want] == [True, True, False, False]
    assert want[0].renorm.may_change.tolist() == [0, 2], "the union of every replica's rows"
    assert all(w.output_reads.owners == (0, 1) for w in want)


def test_a_grid_with_an_invalid_input_in_some_replicas_is_outside_the_spec():
    config, world = ShardedConfig(4, 2), World(1, dp_size=2)
    states = process_states(config, world, TABLE)
    with pytest.raises(ValueError, match="only some replicas"):
        expected_outcomes(Case(config, states=states, world=world,
                               inputs=[torch.tensor([0]), torch.tensor([9])]))


def test_a_bad_configuration_raises_on_every_rank():
    want = expected_outcomes(Case(ShardedConfig(4, 3, max_norm=-1.0), world=World(3),
                                  action="build"))
    assert [w.error for w in want] == [ValueError] * 3
