"""The sharded layer: options, output modes, errors, per-rank forward (S4.2, S4.3, S4.9)."""

from __future__ import annotations

import threading

import pytest
import torch
from embedspec.reference.collectives import LocalCollectives
from embedspec.reference.configs import ShardedConfig
from embedspec.reference.embedding import Embedding
from embedspec.reference.sharded import (
    DistributedEmbedding,
    ShardedEmbedding,
    build_world,
    to_full,
    world_forward,
)
from embedspec.reference.sharded_norm import combine_norm_terms


def _world(config: ShardedConfig, world_size: int, seed: int = 0):
    torch.manual_seed(seed)
    return build_world(config, world_size)


class _Exchange:
    """All ranks deposit a value, then every rank reads all of them (threads in lockstep)."""

    def __init__(self, size: int) -> None:
        self.barrier = threading.Barrier(size, timeout=30)
        self.slots: list = [None] * size

    def __call__(self, rank: int, value):
        self.barrier.wait()
        self.slots[rank] = value
        self.barrier.wait()
        values = list(self.slots)
        self.barrier.wait()
        return values


class ThreadCollectives:
    """The Collectives protocol over threads, with the spec's autograd conventions."""

    def __init__(self, exchange: _Exchange, rank: int, world_size: int) -> None:
        self.exchange, self.rank, self.world_size = exchange, rank, world_size
        self.calls: list[str] = []

    def all_reduce_sum(self, tensor):
        raise AssertionError("a sharded layer never all-reduces with gradient")

    def all_gather_last_dim(self, tensor, sizes):
        self.calls.append("all_gather_last_dim")
        blocks = self.exchange(self.rank, tensor.detach())
        assert [b.shape[-1] for b in blocks] == sizes
        return torch.cat([tensor if r == self.rank else b for r, b in enumerate(blocks)], -1)

    def all_reduce_no_grad(self, tensor, op):
        self.calls.append(f"all_reduce_no_grad:{op}")
        terms = self.exchange(self.rank, tensor.detach().clone())
        return combine_norm_terms(terms, float("inf") if op == "max" else 2.0)


def _run_threads(layers, fn):
    results: list = [None] * len(layers)
    errors: list = []

    def work(rank):
        try:
            results[rank] = fn(layers[rank])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in range(len(layers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _attach_thread_collectives(layers):
    exchange = _Exchange(len(layers))
    for rank, layer in enumerate(layers):
        layer.collectives = ThreadCollectives(exchange, rank, len(layers))


# --------------------------------------------------------------------- output modes


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_gathered_output_is_the_full_row_on_every_rank(world_size):
    config = ShardedConfig(7, 10)
    world = _world(config, world_size)
    full = to_full(world)
    ids = torch.tensor([[0, 6, 3], [3, 3, 1]])
    for out in world_forward(world, ids):
        assert out.shape == (2, 3, 10)
        assert torch.equal(out, full[ids])


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_local_output_is_the_rank_column_block(world_size):
    config = ShardedConfig(7, 10, gather_output=False)
    world = _world(config, world_size)
    full = to_full(world)
    ids = torch.tensor([5, 0, 5])
    for layer, out in zip(world, world_forward(world, ids), strict=True):
        assert torch.equal(out, full[ids][:, layer.column_start:layer.column_end])
        assert torch.equal(layer(ids), out)  # no collective needed


def test_hand_computed_gathered_and_local_outputs():
    table = torch.arange(20.0).reshape(2, 10)
    gathered = [ShardedEmbedding.from_full(table, rank=r, world_size=4) for r in range(4)]
    local = [ShardedEmbedding.from_full(table, rank=r, world_size=4, gather_output=False)
             for r in range(4)]
    ids = torch.tensor([1])
    assert world_forward(gathered, ids)[2].tolist() == [list(range(10, 20))]
    assert [o.tolist() for o in world_forward(local, ids)] == [
        [[10, 11, 12]], [[13, 14, 15]], [[16, 17]], [[18, 19]]]


@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (2, 2, 2)])
def test_any_index_shape(shape):
    world = _world(ShardedConfig(5, 6), 3)
    ids = torch.randint(0, 5, shape)
    for out in world_forward(world, ids):
        assert out.shape == (*shape, 6)
        assert torch.equal(out, to_full(world)[ids])


def test_non_contiguous_int32_input():
    world = _world(ShardedConfig(5, 6), 2)
    ids = torch.tensor([[0, 4], [2, 1], [3, 3]], dtype=torch.int32).t()
    assert torch.equal(world_forward(world, ids)[0], to_full(world)[ids.long()])


def test_output_is_a_fresh_tensor():
    layer = _world(ShardedConfig(5, 6), 1)[0]
    before = layer.weight.detach().clone()
    out = layer(torch.tensor([1, 2]))
    with torch.no_grad():
        out.zero_()
    assert torch.equal(layer.weight.detach(), before)


def test_world_size_1_is_the_embedding_reference():
    config = ShardedConfig(6, 5, padding_idx=-1, max_norm=1.5, scale_grad_by_freq=True)
    layer = _world(config, 1, seed=4)[0]
    torch.manual_seed(4)
    reference = Embedding(6, 5, padding_idx=-1, max_norm=1.5, scale_grad_by_freq=True)
    ids = torch.tensor([5, 1, 1, 0])
    out, expected = layer(ids), reference(ids)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-7)
    grad = torch.randn(4, 5)
    out.backward(grad)
    expected.backward(grad)
    assert torch.equal(layer.weight.grad, reference.weight.grad)


# --------------------------------------------------------------------- per-rank forward


@pytest.mark.parametrize("max_norm", [None, 1.0])
@pytest.mark.parametrize("gather_output", [True, False])
def test_per_rank_forward_with_collectives_matches_the_simulated_world(max_norm, gather_output):
    config = ShardedConfig(8, 10, max_norm=max_norm, gather_output=gather_output, padding_idx=2)
    simulated, threaded = _world(config, 4), _world(config, 4)
    _attach_thread_collectives(threaded)
    ids = torch.tensor([[1, 2, 7], [7, 7, 0]])
    expected = world_forward(simulated, ids)
    outputs = _run_threads(threaded, lambda layer: layer(ids))
    grads = [torch.randn_like(e) for e in expected]
    for out, exp, g in zip(outputs, expected, grads, strict=True):
        assert torch.equal(out, exp)
        out.backward(g)
        exp.backward(g)
    for a, b in zip(threaded, simulated, strict=True):
        assert torch.equal(a.weight, b.weight)
        assert torch.equal(a.weight.grad, b.weight.grad)
    calls = threaded[0].collectives.calls
    assert calls == (["all_reduce_no_grad:sum"] if max_norm else []) + \
        (["all_gather_last_dim"] if gather_output else [])


def test_inf_norm_reduces_with_max():
    config = ShardedConfig(4, 4, max_norm=0.5, norm_type=float("inf"), gather_output=False)
    world = _world(config, 2)
    _attach_thread_collectives(world)
    _run_threads(world, lambda layer: layer(torch.tensor([1])))
    assert world[0].collectives.calls == ["all_reduce_no_grad:max"]


def test_forward_without_collectives_in_a_world_is_a_runtime_error():
    for config in (ShardedConfig(5, 4), ShardedConfig(5, 4, gather_output=False, max_norm=1.0)):
        layer = _world(config, 2)[0]
        before = layer.weight.detach().clone()
        with pytest.raises(RuntimeError, match="world_forward"):
            layer(torch.tensor([0]))
        assert torch.equal(layer.weight.detach(), before)


def test_local_output_without_max_norm_needs_no_collectives():
    layer = _world(ShardedConfig(5, 4, gather_output=False), 2)[1]
    assert not layer.needs_collectives()
    assert layer(torch.tensor([3])).shape == (1, 2)


def test_collectives_must_match_the_rank():
    with pytest.raises(ValueError, match="rank 0 of 1"):
        ShardedEmbedding(5, 4, rank=1, world_size=2, collectives=LocalCollectives())
    with pytest.raises(ValueError, match="Collectives protocol"):
        ShardedEmbedding(5, 4, collectives="group")


# --------------------------------------------------------------------- options and errors


def test_padding_idx_is_normalised_and_its_row_zeroed_on_every_shard():
    world = _world(ShardedConfig(6, 10, padding_idx=-2), 4)
    assert {layer.padding_idx for layer in world} == {4}
    assert not to_full(world)[4].any()
    assert to_full(world)[[0, 1, 2, 3, 5]].ne(0).all()


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"padding_idx": 6}, "padding_idx"), ({"padding_idx": -7}, "padding_idx"),
    ({"padding_idx": 1.0}, "padding_idx"), ({"max_norm": -1.0}, "max_norm"),
    ({"max_norm": float("inf")}, "max_norm"), ({"norm_type": 0.0}, "norm_type"),
    ({"scale_grad_by_freq": 1}, "scale_grad_by_freq"), ({"gather_output": None}, "gather_output"),
    ({"partition": "rows"}, "partition"), ({"init": "uniform"}, "init"),
    ({"dtype": torch.int64}, "dtype"), ({"num_embeddings": -1}, "num_embeddings"),
    ({"embedding_dim": -3}, "embedding_dim"), ({"world_size": 0}, "world_size"),
    ({"rank": 2, "world_size": 2}, "rank"), ({"device": "nowhere"}, "device"),
])
def test_bad_configuration_raises_value_error(kwargs, name):
    args = {"num_embeddings": 6, "embedding_dim": 4, **kwargs}
    with pytest.raises(ValueError, match=name):
        ShardedEmbedding(**args)


def test_there_is_no_sparse_option():
    with pytest.raises(TypeError):
        ShardedEmbedding(6, 4, sparse=True)


@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("bad", [-1, 6, 100])
@pytest.mark.parametrize("max_norm", [None, 0.1])
def test_out_of_range_ids_raise_index_error_on_every_rank(world_size, bad, max_norm):
    world = _world(ShardedConfig(6, 5, max_norm=max_norm, gather_output=False), world_size)
    before = to_full(world)
    ids = torch.tensor([0, 1, bad])
    with pytest.raises(IndexError):
        world_forward(world, ids)
    for layer in world:  # ids are checked before the missing collectives are noticed
        with pytest.raises(IndexError):
            layer(ids)
    assert torch.equal(to_full(world), before)


@pytest.mark.parametrize("dtype", [torch.float64, torch.int16, torch.bool])
def test_bad_index_dtype_raises_type_error(dtype):
    world = _world(ShardedConfig(6, 5, max_norm=0.1), 2)
    with pytest.raises(TypeError):
        world_forward(world, torch.zeros(2, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtypes(dtype):
    world = _world(ShardedConfig(6, 5, dtype=dtype), 2)
    ids = torch.tensor([0, 5])
    assert world[1].weight.dtype == dtype
    for out in world_forward(world, ids):
        assert out.dtype == dtype and torch.equal(out, to_full(world)[ids])


def test_dtype_none_is_the_default_dtype():
    assert ShardedEmbedding(3, 2, dtype=None).weight.dtype == torch.get_default_dtype()


# --------------------------------------------------------------------- DistDL constructor


def test_distributed_embedding_constructor_shape():
    torch.manual_seed(0)
    layer = DistributedEmbedding([2, 1, 4], 16, 10, padding_idx=0, rank=2)
    assert (layer.world_size, layer.dp_size, layer.rank) == (4, 2, 2)
    assert layer.P_x_shape == (2, 1, 4)
    assert (layer.partition, layer.gather_output) == ("balanced", False)
    assert (layer.column_start, layer.column_end) == (6, 8)
    assert layer(torch.tensor([3, 0])).shape == (2, 2)
    assert not layer.weight[0].any()
    assert DistributedEmbedding(3, 5, 4, rank=1).world_size == 3


@pytest.mark.parametrize(("shape", "extra", "name"), [
    ([2, 2], {}, "second last"), ([4], {}, "P_x_shape"), ([1, 0], {}, "P_x_shape"),
    ([1, 2], {"sparse": True}, "sparse"),
])
def test_distributed_embedding_rejects_bad_arguments(shape, extra, name):
    with pytest.raises(ValueError, match=name):
        DistributedEmbedding(shape, 5, 4, **extra)


def test_dtype_none_means_the_default_dtype():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert ShardedEmbedding(5, 4).weight.dtype == torch.float64
    finally:
        torch.set_default_dtype(previous)
