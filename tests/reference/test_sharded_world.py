"""Sharded worlds: init, full-table round trips, gradients, data parallelism (S4.5-S4.7)."""

from __future__ import annotations

import pytest
import torch
from embedspec.reference.configs import ShardedConfig, VocabParallelConfig
from embedspec.reference.embedding import Embedding
from embedspec.reference.sharded import (
    ShardedEmbedding,
    build_grid,
    build_world,
    grid_forward,
    owner_gradient,
    to_embedding,
    to_full,
    world_forward,
)


def _world(config: ShardedConfig, world_size: int, seed: int = 0):
    torch.manual_seed(seed)
    return build_world(config, world_size)


# --------------------------------------------------------------------- init


@pytest.mark.parametrize("init", ["normal", "scaled_normal", "xavier_uniform"])
@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_a_world_holds_the_table_of_an_unsharded_layer_with_the_same_seed(init, world_size):
    config = ShardedConfig(7, 10, padding_idx=3, init=init)
    world = _world(config, world_size, seed=11)
    torch.manual_seed(11)
    reference = Embedding(7, 10, padding_idx=3, init=init)
    assert torch.equal(to_full(world), reference.weight.detach())
    assert not to_full(world)[3].any()


def test_each_rank_built_alone_from_the_same_seed_holds_its_block():
    config = ShardedConfig(7, 10)
    world = _world(config, 4, seed=5)
    for rank in range(4):
        torch.manual_seed(5)
        alone = ShardedEmbedding.from_config(config, rank=rank, world_size=4)
        assert torch.equal(alone.weight, world[rank].weight)


def test_a_callable_init_runs_on_the_full_table():
    def columns(weight):
        weight.copy_(torch.arange(weight.shape[1], dtype=weight.dtype).expand_as(weight))

    world = build_world(ShardedConfig(3, 5, init=columns, padding_idx=0), 2)
    assert world[1].weight.detach().tolist() == [[0, 0], [3, 4], [3, 4]]


# --------------------------------------------------------------------- full-table round trips


@pytest.mark.parametrize(("world_size", "partition"), [
    (1, "balanced"), (2, "balanced"), (3, "balanced"), (4, "balanced"), (7, "balanced"),
    (2, "even"), (5, "even"),
])
def test_from_full_to_full_round_trip_is_exact(world_size, partition):
    table = torch.randn(6, 10, dtype=torch.float64)
    table[2] = 9.0  # the padding row is kept as is, not zeroed
    world = [ShardedEmbedding.from_full(table, rank=r, world_size=world_size, padding_idx=2,
                                        partition=partition) for r in range(world_size)]
    assert torch.equal(to_full(world), table)
    assert all(layer.weight.dtype == torch.float64 for layer in world)
    table.zero_()
    assert to_full(world).ne(0).any()  # the shards own their storage


def test_from_embedding_and_to_embedding():
    torch.manual_seed(0)
    embed = Embedding(6, 10, padding_idx=-1, max_norm=2.0, norm_type=3.0,
                      scale_grad_by_freq=True)
    world = [ShardedEmbedding.from_embedding(embed, r, 4) for r in range(4)]
    assert {(layer.padding_idx, layer.max_norm, layer.norm_type, layer.scale_grad_by_freq)
            for layer in world} == {(5, 2.0, 3.0, True)}
    back = to_embedding(world)
    assert isinstance(back, Embedding)
    assert torch.equal(back.weight, embed.weight)
    assert back.weight.requires_grad
    assert (back.padding_idx, back.max_norm, back.norm_type, back.scale_grad_by_freq) == \
        (5, 2.0, 3.0, True)


def test_from_torch_embedding():
    torch.manual_seed(0)
    embed = torch.nn.Embedding(5, 4, padding_idx=1)
    world = [ShardedEmbedding.from_embedding(embed, r, 2, partition="even") for r in range(2)]
    assert torch.equal(to_full(world), embed.weight.detach())
    assert world[0].padding_idx == 1


def test_from_embedding_rejects_sparse_layers():
    with pytest.raises(ValueError, match="sparse"):
        ShardedEmbedding.from_embedding(torch.nn.Embedding(5, 4, sparse=True))


def test_to_full_needs_a_whole_consistent_world():
    world = _world(ShardedConfig(5, 6), 3)
    with pytest.raises(ValueError, match="needs 3 layers"):
        to_full(world[:2])
    with pytest.raises(ValueError, match="rank order"):
        to_full(world[::-1])
    other = _world(ShardedConfig(5, 6, padding_idx=0), 3)
    with pytest.raises(ValueError, match="same layer"):
        to_full([world[0], other[1], world[2]])
    assert torch.equal(to_full(_world(ShardedConfig(5, 6), 1)[0]),
                       to_full(_world(ShardedConfig(5, 6), 1)))


# --------------------------------------------------------------------- gradients


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("gather_output", [True, False])
@pytest.mark.parametrize("options", [{}, {"padding_idx": 1}, {"scale_grad_by_freq": True},
                                     {"padding_idx": 0, "scale_grad_by_freq": True}])
def test_rank_gradients_are_column_slices_of_the_unsharded_gradient(world_size, gather_output,
                                                                    options):
    table = torch.randn(6, 10)
    world = [ShardedEmbedding.from_full(table, rank=r, world_size=world_size,
                                        gather_output=gather_output, **options)
             for r in range(world_size)]
    reference = Embedding.from_pretrained(table.clone(), freeze=False, **options)
    ids = torch.tensor([[1, 0, 1], [5, 1, 0]])
    grad = torch.randn(2, 3, 10)
    reference(ids).backward(grad)
    for layer, out in zip(world, world_forward(world, ids), strict=True):
        g = grad if gather_output else grad[..., layer.column_start:layer.column_end]
        out.backward(g)
    for layer in world:
        expected = reference.weight.grad[:, layer.column_start:layer.column_end]
        assert torch.equal(layer.weight.grad, expected)
    if "padding_idx" in options:
        assert not world[0].weight.grad[options["padding_idx"]].any()


def test_gradient_hand_computed():
    """D 3 over 2 ranks ([2, 1]); each rank receives its column block of the output
    gradient, summed per id, and nothing from the other ranks' blocks."""
    world = [ShardedEmbedding.from_full(torch.zeros(3, 3), rank=r, world_size=2)
             for r in range(2)]
    outputs = world_forward(world, torch.tensor([2, 0, 2]))
    grad = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    for out in outputs:
        out.backward(grad)
    assert world[0].weight.grad.tolist() == [[4, 5], [0, 0], [8, 10]]
    assert world[1].weight.grad.tolist() == [[6], [0], [12]]


def test_scale_grad_by_freq_counts_the_whole_input():
    world = [ShardedEmbedding.from_full(torch.zeros(3, 2), rank=r, world_size=2,
                                        scale_grad_by_freq=True) for r in range(2)]
    for out in world_forward(world, torch.tensor([[1, 1], [1, 2]])):
        out.backward(torch.tensor([[[3.0, 6.0], [6.0, 3.0]], [[3.0, 3.0], [5.0, 7.0]]]))
    assert world[0].weight.grad.tolist() == [[0], [4], [5]]
    assert world[1].weight.grad.tolist() == [[0], [4], [7]]


# --------------------------------------------------------------------- data parallelism


def test_owner_gradient_is_the_sum_over_replicas():
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[10.0, 20.0]])
    assert owner_gradient([a, None, b]).tolist() == [[11.0, 22.0]]
    assert owner_gradient([None, None]) is None
    assert owner_gradient([a]) is a


def test_grid_replicas_start_as_copies_of_the_owner():
    torch.manual_seed(0)
    grid = build_grid(ShardedConfig(5, 6, padding_idx=0), 2, 3)
    assert len(grid) == 3 and all(len(replica) == 2 for replica in grid)
    for replica in grid[1:]:
        assert torch.equal(to_full(replica), to_full(grid[0]))
        assert replica[0].weight is not grid[0][0].weight
    torch.manual_seed(0)
    assert torch.equal(to_full(grid[0]), to_full(build_world(ShardedConfig(5, 6, padding_idx=0),
                                                             2)))


@pytest.mark.parametrize("gather_output", [True, False])
def test_grid_gradients_land_on_the_owner_as_the_sum_over_replicas(gather_output):
    torch.manual_seed(1)
    config = ShardedConfig(6, 5, padding_idx=2, scale_grad_by_freq=True,
                           gather_output=gather_output)
    grid = build_grid(config, 2, 3)
    table = to_full(grid[0])
    inputs = [torch.tensor([0, 2, 0]), torch.tensor([[5], [0]]), torch.tensor(4)]
    grads = [torch.randn(*x.shape, 5) for x in inputs]
    outputs = grid_forward(grid, inputs)
    replica_grads = []
    for x, g in zip(inputs, grads, strict=True):
        reference = Embedding.from_pretrained(table.clone(), freeze=False, padding_idx=2,
                                              scale_grad_by_freq=True)
        reference(x).backward(g)
        replica_grads.append(reference.weight.grad)
    for d, (x, g) in enumerate(zip(inputs, grads, strict=True)):
        for layer, out in zip(grid[0], outputs[d], strict=True):
            cols = slice(layer.column_start, layer.column_end)
            assert torch.equal(out, table[x] if gather_output else table[x][..., cols])
            out.backward(g if gather_output else g[..., cols])
    expected = owner_gradient(replica_grads)
    for layer in grid[0]:
        torch.testing.assert_close(layer.weight.grad,
                                   expected[:, layer.column_start:layer.column_end],
                                   rtol=1e-6, atol=1e-6)
    assert all(layer.weight.grad is None for replica in grid[1:] for layer in replica)


def test_grid_owner_renormalises_the_union_of_all_inputs():
    table = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 0.5], [0.0, 6.0, 8.0], [9.0, 0.0, 0.0]])
    grid = [[ShardedEmbedding.from_full(table, rank=r, world_size=2, max_norm=2.0)
             for r in range(2)] for _ in range(2)]
    outputs = grid_forward(grid, [torch.tensor([0, 1]), torch.tensor([2, 0])])
    expected = table.clone()
    expected[0] *= torch.tensor(2.0 / (5.0 + 1e-7), dtype=torch.float64).float()
    expected[2] *= torch.tensor(2.0 / (10.0 + 1e-7), dtype=torch.float64).float()
    for replica in grid:
        assert torch.equal(to_full(replica), expected)  # row 3 unreferenced, row 1 in bound
    assert torch.equal(outputs[1][0], expected[[2, 0]])
    assert torch.equal(outputs[0][1], expected[[0, 1]])


def test_grid_validates_every_input_before_changing_anything():
    grid = [[ShardedEmbedding.from_full(torch.full((3, 2), 5.0), rank=r, world_size=2,
                                        max_norm=1.0) for r in range(2)] for _ in range(2)]
    with pytest.raises(IndexError):
        grid_forward(grid, [torch.tensor([0]), torch.tensor([3])])
    assert all(torch.equal(to_full(replica), torch.full((3, 2), 5.0)) for replica in grid)
    with pytest.raises(ValueError, match="one tensor per replica"):
        grid_forward(grid, [torch.tensor([0])])


def test_full_table_argument_must_match_sizes_and_dtype():
    table = torch.randn(4, 6)
    layer = ShardedEmbedding(4, 6, rank=1, world_size=2, full_table=table)
    assert torch.equal(layer.weight.detach(), table[:, 3:])
    for bad in (table[:3], table.double(), table.long()):
        with pytest.raises(ValueError, match="full_table"):
            ShardedEmbedding(4, 6, full_table=bad)


def test_from_config_needs_a_sharded_config():
    with pytest.raises(TypeError):
        ShardedEmbedding.from_config(VocabParallelConfig(4, 6))
    with pytest.raises(TypeError):
        build_world(VocabParallelConfig(4, 6), 2)
