"""``max_norm`` in the sharded family: full-row norms reduced across shards (S4.4)."""

from __future__ import annotations

import math

import pytest
import torch
from embedspec.reference.embedding import Embedding
from embedspec.reference.sharded import ShardedEmbedding, to_full, world_forward
from embedspec.reference.sharded_norm import full_norms, norm_terms

TABLE = torch.tensor([
    [3.0, 0.0, 0.0, 4.0],    # L2 5, shard L2 norms 3 and 4
    [1.0, 1.0, 1.0, 1.0],    # L2 2
    [6.0, 8.0, 0.0, 0.0],    # L2 10, never referenced below
    [1.0, -2.0, 3.0, 0.0],   # L1 6, shard L1 norms 3 and 3
    [1.0, -7.0, 3.0, 2.0],   # Linf 7, shard Linf norms 7 and 3
])


def _world(table: torch.Tensor, world_size: int, **options) -> list[ShardedEmbedding]:
    return [ShardedEmbedding.from_full(table.clone(), rank=r, world_size=world_size, **options)
            for r in range(world_size)]


def _shard_norm(layer: ShardedEmbedding, row: int, p: float) -> float:
    return full_norms(norm_terms(layer.weight, torch.tensor([row]), p), p).item()


def _scaled(row: list[float], max_norm: float, norm: float) -> torch.Tensor:
    factor = torch.tensor(max_norm / (norm + 1e-7), dtype=torch.float64).float()
    return torch.tensor(row) * factor


def test_l2_hand_computed_across_two_shards():
    world = _world(TABLE, 2, max_norm=4.5)
    # each shard alone is within max_norm: a shard-local rule would leave row 0 as it is
    assert [_shard_norm(layer, 0, 2.0) for layer in world] == [3.0, 4.0]
    outputs = world_forward(world, torch.tensor([0, 1, 0]))
    expected_row0 = _scaled([3, 0, 0, 4], 4.5, 5.0)
    assert torch.equal(world[0].weight.detach()[0], expected_row0[:2])
    assert torch.equal(world[1].weight.detach()[0], expected_row0[2:])
    assert torch.equal(to_full(world)[1:], TABLE[1:])  # row 1 within bound, row 2 unreferenced
    assert torch.equal(outputs[0][0], expected_row0)
    assert torch.equal(outputs[1][2], expected_row0)
    assert torch.linalg.vector_norm(expected_row0).item() <= 4.5


def test_l1_hand_computed_across_two_shards():
    world = _world(TABLE, 2, max_norm=5.0, norm_type=1.0)
    assert [_shard_norm(layer, 3, 1.0) for layer in world] == [3.0, 3.0]
    world_forward(world, torch.tensor([3]))
    assert torch.equal(to_full(world)[3], _scaled([1, -2, 3, 0], 5.0, 6.0))


def test_inf_norm_hand_computed_across_two_shards():
    world = _world(TABLE, 2, max_norm=5.0, norm_type=math.inf, gather_output=False)
    # shard 1 alone (max 3) would not be scaled, shard 0 alone (max 7) would
    assert [_shard_norm(layer, 4, math.inf) for layer in world] == [7.0, 3.0]
    world_forward(world, torch.tensor([4]))
    assert torch.equal(to_full(world)[4], _scaled([1, -7, 3, 2], 5.0, 7.0))


def test_balanced_split_with_a_rank_holding_no_column():
    table = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    world = _world(table, 3, max_norm=1.0)
    assert world[2].weight.shape == (2, 0)
    outputs = world_forward(world, torch.tensor([0, 1]))
    expected = _scaled([3, 4], 1.0, 5.0)
    assert torch.equal(outputs[2][0], expected)
    assert torch.equal(outputs[0][1], table[1])


def test_max_norm_zero_zeroes_referenced_rows():
    world = _world(TABLE, 2, max_norm=0.0)
    world_forward(world, torch.tensor([1, 3]))
    full = to_full(world)
    assert not full[[1, 3]].any()
    assert torch.equal(full[[0, 2, 4]], TABLE[[0, 2, 4]])


def test_empty_input_changes_nothing():
    world = _world(TABLE, 2, max_norm=0.0)
    world_forward(world, torch.empty(0, dtype=torch.int64))
    assert torch.equal(to_full(world), TABLE)


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
def test_matches_the_unsharded_reference(world_size, norm_type):
    torch.manual_seed(world_size)
    table = torch.randn(9, 10)
    reference = Embedding.from_pretrained(table.clone(), freeze=False, max_norm=1.3,
                                          norm_type=norm_type)
    world = _world(table, world_size, max_norm=1.3, norm_type=norm_type)
    ids = torch.tensor([[0, 4, 4], [8, 2, 0]])
    expected = reference(ids)
    # The norms may differ by one ulp of float32 (S4.10), so renormalised rows by about two.
    ulps = 2 * torch.finfo(torch.float32).eps
    for out in world_forward(world, ids):
        torch.testing.assert_close(out, expected, rtol=ulps, atol=0)
    full = to_full(world)
    torch.testing.assert_close(full, reference.weight.detach(), rtol=ulps, atol=0)
    untouched = torch.ones(9, dtype=torch.bool)
    untouched[ids.unique()] = False
    assert torch.equal(full[untouched], table[untouched])


def test_renormalisation_is_invisible_to_autograd():
    world = _world(TABLE, 2, max_norm=1.0)
    ids = torch.tensor([0, 0, 1])
    grad = torch.arange(12.0).reshape(3, 4)
    for out in world_forward(world, ids):
        out.backward(grad)
    expected = torch.zeros(5, 4)
    expected.index_add_(0, ids, grad)
    assert torch.equal(world[0].weight.grad, expected[:, :2])
    assert torch.equal(world[1].weight.grad, expected[:, 2:])


def test_padding_row_is_renormalised_when_referenced():
    world = _world(TABLE, 2, max_norm=4.5, padding_idx=0)
    world_forward(world, torch.tensor([0]))
    assert torch.equal(to_full(world)[0], _scaled([3, 0, 0, 4], 4.5, 5.0))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_the_factor_is_rounded_to_the_weight_dtype(dtype):
    """As the unsharded reference (S1.2): factor in float64, rounded to the weight's dtype,
    then multiplied in the weight's dtype."""
    table = TABLE.to(dtype)
    world = _world(table, 2, max_norm=4.5)
    world_forward(world, torch.tensor([0]))
    factor = torch.tensor(4.5 / (5.0 + 1e-7), dtype=torch.float64).to(dtype)
    assert torch.equal(to_full(world)[0], table[0] * factor)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_half_precision_matches_the_unsharded_reference_bitwise(dtype, world_size):
    """The full norm rounded to the weight's dtype is the reference's norm here (its
    float64 value 6.3344 rounds to 6.3359 in float16 and 6.3438 in bfloat16, not to a
    tie), so the renormalised rows agree bit for bit."""
    table = torch.tensor([[1.5, -2.25, 3.0, 0.5, 4.75, -1.0]] * 3, dtype=dtype)
    table[1] *= 3
    reference = Embedding.from_pretrained(table.clone(), freeze=False, max_norm=2.0)
    world = _world(table, world_size, max_norm=2.0)
    ids = torch.tensor([0, 1])
    assert torch.equal(world_forward(world, ids)[0], reference(ids))
    assert torch.equal(to_full(world), reference.weight.detach())
