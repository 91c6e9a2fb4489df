"""The vocab-parallel layer and its world (S3.5, S3.6, S3.8, S3.10, S3.11)."""

from __future__ import annotations

import pytest
import torch
from embedspec.reference.collectives import LocalCollectives
from embedspec.reference.configs import ShardedConfig, VocabParallelConfig
from embedspec.reference.embedding import Embedding
from embedspec.reference.vocab_parallel import (
    VocabParallelEmbedding,
    build_world,
    combine_partials,
    full_weight,
    shard_full_weight,
    world_forward,
)

ADDED = VocabParallelConfig(num_embeddings=12, embedding_dim=3, org_num_embeddings=10,
                            padding_size=8)
WORLD_SIZES = [1, 2]


def _world(config: VocabParallelConfig, world_size: int, seed: int = 0):
    torch.manual_seed(seed)
    return build_world(config, world_size)


def _drawn_table(config: VocabParallelConfig, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    dtype = config.params_dtype or torch.get_default_dtype()
    return torch.empty(config.num_embeddings, config.embedding_dim, dtype=dtype).normal_()


class ReplayCollectives:
    """One rank's all-reduce, given the other ranks' partials (identity backward)."""

    def __init__(self, rank: int, others: list[torch.Tensor], world_size: int) -> None:
        self.rank, self.world_size, self.others = rank, world_size, others

    def all_reduce_sum(self, tensor):
        return tensor + sum(o.detach() for o in self.others)

    def all_gather_last_dim(self, tensor, sizes):
        raise AssertionError("a vocab-parallel layer never gathers")

    def all_reduce_no_grad(self, tensor, op):
        raise AssertionError("a vocab-parallel layer never reduces outside autograd")


# --------------------------------------------------------------------- forward values


@pytest.mark.parametrize("world_size", WORLD_SIZES)
def test_every_rank_outputs_the_full_table_rows(world_size):
    world = _world(ADDED, world_size)
    full = _drawn_table(ADDED)
    ids = torch.tensor([[0, 9, 10], [11, 5, 10]])
    outputs = world_forward(world, ids)
    assert len(outputs) == world_size
    for out in outputs:
        assert out.shape == (2, 3, 3) and out.dtype == torch.float32
        assert torch.equal(out, full[ids])


def test_vocab_10_over_world_4():
    config = VocabParallelConfig(10, 2)
    world = _world(config, 4)
    ids = torch.arange(10)
    full = _drawn_table(config)
    assert all(torch.equal(out, full) for out in world_forward(world, ids))
    assert torch.equal(world[0].partial(ids), full)
    for layer in world[1:]:
        assert not layer.partial(ids).any()
        assert not layer.weight.any()


def test_partials_are_exact_zeros_where_not_owned_and_sum_to_the_output():
    world = _world(ADDED, 2)
    ids = torch.tensor([0, 8, 10, 9])
    p0, p1 = (layer.partial(ids) for layer in world)
    assert not p0[[1, 3]].any() and not p1[[0, 2]].any()
    assert torch.equal(p0[[0, 2]], world[0].weight.detach()[[0, 8]])
    assert torch.equal(p1[[1, 3]], world[1].weight.detach()[[0, 1]])
    assert torch.equal(combine_partials([p0, p1]), _drawn_table(ADDED)[ids])


def test_combine_partials_needs_at_least_one():
    with pytest.raises(ValueError):
        combine_partials([])


def test_added_vocab_embeds_identically_at_world_size_1_and_2():
    """S3.10: one id -> row mapping at every world size (upstream F3.5 reads the base
    padding row for an added id at world size 1)."""
    torch.manual_seed(3)
    single = VocabParallelEmbedding(**ADDED.as_kwargs())
    world = _world(ADDED, 2, seed=3)
    ids = torch.tensor([10, 11, 10, 0, 9])
    expected = world_forward(world, ids)[0]
    assert torch.equal(single(ids), expected)
    full = _drawn_table(ADDED, seed=3)
    assert torch.equal(single(ids), full[ids])
    # at world size 1 the added rows sit after the 16 base rows (10 real + 6 padding)
    assert torch.equal(single.weight.detach()[16:18], full[10:12])
    assert not single.weight.detach()[10:16].any()
    assert single(torch.tensor([10])).abs().sum() > 0


@pytest.mark.parametrize("shape", [(), (0,), (0, 4), (2, 3, 2)])
def test_any_index_shape(shape):
    world = _world(ADDED, 2)
    ids = torch.randint(0, 12, shape)
    for out in world_forward(world, ids):
        assert out.shape == (*shape, 3)
        assert torch.equal(out, _drawn_table(ADDED)[ids])


def test_non_contiguous_int32_input():
    world = _world(ADDED, 2)
    ids = torch.tensor([[0, 10], [11, 3], [9, 8]], dtype=torch.int32).t()
    assert not ids.is_contiguous()
    assert torch.equal(world_forward(world, ids)[1], _drawn_table(ADDED)[ids.long()])


def test_output_is_a_fresh_tensor():
    layer = _world(ADDED, 1)[0]
    before = layer.weight.detach().clone()
    out = layer(torch.tensor([0, 10]))
    with torch.no_grad():
        out.fill_(7.0)
    assert torch.equal(layer.weight.detach(), before)


# --------------------------------------------------------------------- invalid ids


@pytest.mark.parametrize("world_size", [1, 2, 4])
@pytest.mark.parametrize("bad", [-1, 12, 13, 16, 23, 10**6])
def test_out_of_range_ids_raise_index_error_on_every_rank(world_size, bad):
    config = VocabParallelConfig(12, 3, 10, padding_size=16)
    world = _world(config, world_size)
    before = [layer.weight.detach().clone() for layer in world]
    ids = torch.tensor([0, bad, 10])
    with pytest.raises(IndexError):
        world_forward(world, ids)
    for layer in world:
        with pytest.raises(IndexError):
            layer.partial(ids)
    if world_size == 1:
        with pytest.raises(IndexError):
            world[0](ids)
    assert all(torch.equal(layer.weight.detach(), b) for layer, b in zip(world, before,
                                                                          strict=True))


def test_padded_ids_of_the_worked_example_are_invalid():
    layer = VocabParallelEmbedding(1026, 2, org_num_embeddings=1010)
    for bad in (1026, 1040, 1087):
        with pytest.raises(IndexError):
            layer(torch.tensor([bad]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int16, torch.uint8, torch.bool])
def test_bad_index_dtype_raises_type_error(dtype):
    layer = _world(ADDED, 1)[0]
    with pytest.raises(TypeError):
        layer(torch.zeros(2, dtype=dtype))
    with pytest.raises(TypeError):
        world_forward(_world(ADDED, 2), torch.zeros(2, dtype=dtype))


# --------------------------------------------------------------------- backward


def test_gradient_hand_computed():
    """num 4, padding 2, world 2: rank 0 owns ids 0-1, rank 1 owns ids 2-3."""
    world = _world(VocabParallelConfig(4, 2, padding_size=2), 2)
    ids = torch.tensor([1, 1, 3])
    grad = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    for out in world_forward(world, ids):
        out.backward(grad)
    assert world[0].weight.grad.tolist() == [[0.0, 0.0], [4.0, 6.0]]
    assert world[1].weight.grad.tolist() == [[0.0, 0.0], [5.0, 6.0]]


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_rank_gradients_are_the_shards_of_the_unsharded_gradient(world_size):
    config = VocabParallelConfig(30, 4, 22, padding_size=8)
    world = _world(config, world_size)
    reference = Embedding.from_pretrained(_drawn_table(config), freeze=False)
    ids = torch.tensor([[0, 21, 22, 29], [22, 22, 5, 0]])
    grad = torch.randn(2, 4, 4)
    reference(ids).backward(grad)
    for out in world_forward(world, ids):
        out.backward(grad)
    for rank, layer in enumerate(world):
        expected = shard_full_weight(reference.weight.grad, config, rank, world_size)
        assert torch.equal(layer.weight.grad, expected)


def test_padding_rows_and_unreferenced_rows_get_exact_zero_gradient():
    world = _world(ADDED, 2)
    for out in world_forward(world, torch.tensor([0, 10])):
        out.backward(torch.ones(2, 3))
    g0, g1 = world[0].weight.grad, world[1].weight.grad
    assert g0[[0, 8]].eq(1).all()
    assert not g0[1:8].any() and not g0[9:].any()
    assert not g1.any()


def test_weight_is_trainable():
    layer = _world(ADDED, 1)[0]
    assert layer.weight.requires_grad
    layer(torch.tensor([2, 11])).sum().backward()
    assert layer.weight.grad[[2, 17]].eq(1).all()


# --------------------------------------------------------------------- collectives


def test_forward_without_collectives_above_world_size_1_is_a_runtime_error():
    layer = _world(ADDED, 2)[1]
    with pytest.raises(RuntimeError, match="world_forward"):
        layer(torch.tensor([0]))


def test_forward_at_world_size_1_is_the_partial():
    layer = _world(ADDED, 1)[0]
    ids = torch.tensor([3, 11])
    assert torch.equal(layer(ids), layer.partial(ids))


def test_forward_with_collectives_all_reduces_the_partial():
    world = _world(ADDED, 2)
    ids = torch.tensor([0, 9, 10, 11])
    grad = torch.randn(4, 3)
    partials = [layer.partial(ids).detach() for layer in world]
    for rank, layer in enumerate(world):
        layer.collectives = ReplayCollectives(rank, [partials[1 - rank]], 2)
        out = layer(ids)
        assert torch.equal(out, _drawn_table(ADDED)[ids])
        out.backward(grad)
    reference = Embedding.from_pretrained(_drawn_table(ADDED), freeze=False)
    reference(ids).backward(grad)
    for rank, layer in enumerate(world):
        assert torch.equal(layer.weight.grad, shard_full_weight(reference.weight.grad, ADDED,
                                                                rank, 2))


def test_collectives_must_match_the_rank():
    with pytest.raises(ValueError, match="rank 0 of 1"):
        VocabParallelEmbedding(12, 3, tp_rank=1, tp_size=2, collectives=LocalCollectives())
    with pytest.raises(ValueError, match="Collectives protocol"):
        VocabParallelEmbedding(12, 3, collectives=object())
    assert VocabParallelEmbedding(12, 3, collectives=LocalCollectives())(
        torch.tensor([1])).shape == (1, 3)


# --------------------------------------------------------------------- init and shards


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_a_world_holds_one_full_draw(world_size):
    config = VocabParallelConfig(50, 3, 30, padding_size=8)
    world = _world(config, world_size, seed=7)
    full = _drawn_table(config, seed=7)
    assert torch.equal(full_weight(world), full)
    for rank, layer in enumerate(world):
        torch.manual_seed(7)
        alone = VocabParallelEmbedding.from_config(config, rank=rank, world_size=world_size)
        assert torch.equal(alone.weight, layer.weight)
        assert torch.equal(layer.weight.detach(), shard_full_weight(full, config, rank,
                                                                     world_size))


def test_vocab_padding_rows_are_zero_after_init():
    world = _world(VocabParallelConfig(1026, 2, 1010), 2)
    r0, r1 = (layer.weight.detach() for layer in world)
    assert not r0[528:].any() and r0[:528].ne(0).all()
    assert not r1[498:].any() and r1[:498].ne(0).all()


def test_shard_full_weight_layout():
    full = torch.arange(12.0).repeat(3, 1).t()  # row t holds t
    rank0 = shard_full_weight(full, ADDED, 0, 2)
    rank1 = shard_full_weight(full, ADDED, 1, 2)
    assert rank0[:, 0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 0, 0]
    assert rank1[:, 0].tolist() == [8, 9] + [0] * 10
    with pytest.raises(ValueError, match="full must have shape"):
        shard_full_weight(full[:11], ADDED, 0, 2)
    with pytest.raises(ValueError, match="rank"):
        shard_full_weight(full, ADDED, 2, 2)


def test_full_weight_needs_a_whole_world_in_rank_order():
    world = _world(ADDED, 2)
    with pytest.raises(ValueError, match="needs 2 layers"):
        full_weight(world[:1])
    with pytest.raises(ValueError, match="rank order"):
        full_weight(world[::-1])
    with pytest.raises(ValueError):
        world_forward([], torch.tensor([0]))


# --------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_params_dtype(dtype):
    config = VocabParallelConfig(12, 3, 10, padding_size=8, params_dtype=dtype)
    world = _world(config, 2)
    ids = torch.tensor([0, 9, 11])
    full = _drawn_table(config)
    assert world[0].weight.dtype == dtype
    for out in world_forward(world, ids):
        assert out.dtype == dtype and torch.equal(out, full[ids])


def test_params_dtype_none_is_the_default_dtype():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        layer = VocabParallelEmbedding(12, 3, params_dtype=None)
    finally:
        torch.set_default_dtype(previous)
    assert layer.weight.dtype == torch.float64
    assert VocabParallelEmbedding(12, 3).weight.dtype == previous


def test_full_table_argument_is_checked_and_sharded():
    table = torch.arange(36.0).reshape(12, 3)
    layer = VocabParallelEmbedding(12, 3, org_num_embeddings=10, padding_size=8, tp_rank=1,
                                   tp_size=2, full_table=table)
    assert torch.equal(layer.weight.detach(), shard_full_weight(table, ADDED, 1, 2))
    with pytest.raises(ValueError, match="full_table"):
        VocabParallelEmbedding(12, 3, full_table=table[:, :2])
    with pytest.raises(ValueError, match="full_table"):
        VocabParallelEmbedding(12, 3, full_table=table.long())


def test_from_config_needs_a_vocab_parallel_config():
    with pytest.raises(TypeError):
        VocabParallelEmbedding.from_config(ShardedConfig(12, 3))
    with pytest.raises(TypeError):
        build_world(ShardedConfig(12, 3), 2)
