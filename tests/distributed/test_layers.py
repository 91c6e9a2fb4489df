"""The distributed backend against the reference, on worlds of 1 to 4 processes and a
2 x 2 grid (through the worker pools)."""

from __future__ import annotations

import pytest
import torch
from embedspec.backends.distributed import DistributedBackend
from embedspec.backends.eager.kernels import EagerKernels
from embedspec.conformance.checks import Case, LocalRunner, World
from embedspec.conformance.distributed import PoolRunner
from embedspec.reference import sharded as ref_sharded
from embedspec.reference import vocab_parallel as ref_vocab
from embedspec.reference.collectives import LocalCollectives
from embedspec.reference.configs import EmbeddingConfig, ShardedConfig, VocabParallelConfig

from . import checks
from .conftest import process_alive

IDS = torch.tensor([[0, 9, 3], [8, 8, 1]])  # base ids and added ids (8, 9)
OUT_OF_RANGE = [torch.tensor([1, 10]), torch.tensor([[-1, 2]])]


def vocab_config(world_size: int, dtype: torch.dtype = torch.float32) -> VocabParallelConfig:
    return VocabParallelConfig(10, 3, org_num_embeddings=8, padding_size=2 * world_size,
                               params_dtype=dtype)


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_vocab_parallel_matches_the_reference(distributed_runner: PoolRunner, size: int) -> None:
    for input in (IDS, torch.tensor(9), torch.zeros(0, 2, dtype=torch.int64),
                  IDS.to(torch.int32).t()):
        assert checks.vocab_parallel(distributed_runner, vocab_config(size), size, input) == []
    assert checks.vocab_parallel(distributed_runner, vocab_config(size, torch.float64), size,
                                 IDS, seed=3) == []


@pytest.mark.parametrize("size", [1, 2, 3])
def test_vocab_parallel_rejects_bad_ids_on_every_rank(distributed_runner: PoolRunner,
                                                      size: int) -> None:
    for input in [*OUT_OF_RANGE, torch.tensor([1.0, 2.0])]:
        assert checks.vocab_parallel(distributed_runner, vocab_config(size), size, input) == []


def test_a_fresh_layer_is_the_reference_draw(distributed_runner: PoolRunner) -> None:
    """Workers start each case from the driver's RNG state: one full-table draw."""
    for config, world in ((vocab_config(2), World(2)),
                          (ShardedConfig(7, 5, padding_idx=2, init="scaled_normal"), World(3))):
        torch.manual_seed(123)
        outcomes = distributed_runner.run(Case(config, world=world, action="build"))
        torch.manual_seed(123)
        module = ref_vocab if config.family == "vocab_parallel" else ref_sharded
        layers = module.build_world(config, world.size)
        for outcome, layer in zip(outcomes, layers, strict=True):
            assert outcome.error is None
            assert outcome.state_after.keys() == layer.state_dict().keys()
            assert torch.equal(outcome.state_after["weight"], layer.weight.detach())


def test_weight_loader_loads_the_rank_shard_or_rejects_atomically(
        distributed_runner: PoolRunner) -> None:
    config, size = vocab_config(2), 2
    generator = torch.Generator().manual_seed(1)
    for rows in (8, 10, 9):
        loaded = torch.randn(rows, 3, generator=generator)
        torch.manual_seed(4)
        outcomes = distributed_runner.run(Case(config, world=World(size), action="weight_loader",
                                               loaded_weight=loaded))
        torch.manual_seed(4)
        layers = ref_vocab.build_world(config, size)
        before = [layer.weight.detach().clone() for layer in layers]
        for rank, (outcome, layer) in enumerate(zip(outcomes, layers, strict=True)):
            if rows == 9:
                assert outcome.error is not None and outcome.error.is_a(ValueError)
                assert torch.equal(outcome.state_after["weight"], before[rank])
            else:
                layer.weight_loader(layer.weight, loaded)
                assert outcome.error is None
                assert torch.equal(outcome.state_after["weight"], layer.weight.detach())


def test_sharded_to_full_mapping_is_the_reference_one() -> None:
    config = vocab_config(2)
    backend = DistributedBackend()
    for rank, world_size in ((0, 1), (1, 2), (3, 4)):
        config = vocab_config(world_size)
        layer = backend.vocab_parallel_layer(
            config, rank=rank, world_size=world_size, device=torch.device("cpu"),
            collectives=LocalCollectives(), kernels=EagerKernels())
        reference = ref_vocab.VocabParallelEmbedding.from_config(config, rank=rank,
                                                                 world_size=world_size)
        assert layer.get_sharded_to_full_mapping() == reference.get_sharded_to_full_mapping()


SHARDED = [
    ShardedConfig(9, 5),
    ShardedConfig(9, 5, padding_idx=-2, scale_grad_by_freq=True, gather_output=False),
    ShardedConfig(9, 5, max_norm=1.5),
    ShardedConfig(9, 5, max_norm=0.7, norm_type=1.0, padding_idx=3, dtype=torch.float64),
    ShardedConfig(9, 5, max_norm=0.9, norm_type=float("inf"), gather_output=False),
    ShardedConfig(9, 4, partition="even", max_norm=1.0, norm_type=3.0),
]


@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize("index", range(len(SHARDED)))
def test_sharded_matches_the_reference(distributed_runner: PoolRunner, size: int,
                                       index: int) -> None:
    config = SHARDED[index]
    if config.partition == "even" and config.embedding_dim % size:
        outcomes = distributed_runner.run(Case(config, world=World(size), action="build"))
        assert all(o.error is not None and o.error.is_a(ValueError) for o in outcomes)
        return
    for input in (torch.tensor([[1, 3, 3], [7, 1, 0]]), torch.tensor(4),
                  torch.zeros(0, dtype=torch.int32)):
        assert checks.sharded(distributed_runner, config, World(size), [input]) == []
    for input in OUT_OF_RANGE:
        assert checks.sharded(distributed_runner, config, World(size), [input]) == []


@pytest.mark.parametrize("index", range(len(SHARDED) - 1))
def test_grid_matches_the_reference(distributed_runner: PoolRunner, index: int) -> None:
    config, world = SHARDED[index], World(2, dp_size=2)
    # Replica 1 references rows 5 and 6 that replica 0 does not: the owner must
    # renormalise them too.
    inputs = [torch.tensor([[1, 3], [3, 0]]), torch.tensor([[5, 6], [1, 1]])]
    assert checks.sharded(distributed_runner, config, world, inputs) == []
    assert checks.sharded(distributed_runner, config, world,
                          [torch.tensor([2, 9]), torch.tensor([9, 1])]) == []


def test_grid_non_owners_get_no_gradient_and_mirror_the_owner(
        distributed_runner: PoolRunner) -> None:
    config, world = ShardedConfig(9, 5, max_norm=1.0), World(2, dp_size=2)
    inputs = [torch.tensor([1, 2]), torch.tensor([2, 3])] * 1
    outcomes = distributed_runner.run(Case(
        config, inputs=[inputs[world.coords(p)[0]] for p in range(4)],
        grad_outputs=[torch.ones(2, 5)] * 4, world=world))
    for proc in (2, 3):
        assert outcomes[proc].grads["weight"] is None
        owner = outcomes[world.coords(proc)[1]]
        assert torch.equal(outcomes[proc].state_after["weight"], owner.state_after["weight"])


def test_grid_with_one_bad_replica_raises_everywhere_without_hanging(
        distributed_runner: PoolRunner) -> None:
    config, world = ShardedConfig(9, 5, max_norm=1.0), World(2, dp_size=2)
    inputs = [torch.tensor([1, 2]), torch.tensor([2, 9])]
    outcomes = distributed_runner.run(Case(
        config, inputs=[inputs[world.coords(p)[0]] for p in range(4)], world=world))
    assert all(o.error is not None and o.error.is_a(IndexError) for o in outcomes)
    assert all(process_alive(pid) for pid in distributed_runner.worker_pids())


def test_vocab_parallel_refuses_replicas_and_other_families(
        distributed_runner: PoolRunner) -> None:
    outcomes = distributed_runner.run(Case(vocab_config(2), world=World(2, dp_size=2),
                                           action="build"))
    assert all(o.error is not None and o.error.is_a(ValueError) for o in outcomes)
    local = LocalRunner(DistributedBackend())
    (outcome,) = local.run(Case(EmbeddingConfig(4, 2), action="build"))
    assert outcome.error is not None and outcome.error.is_a(ValueError)
    assert "vocab_parallel and sharded" in outcome.error.message


def test_a_world_of_one_runs_in_process_without_a_process_group() -> None:
    runner = LocalRunner(DistributedBackend())
    torch.manual_seed(0)
    (outcome,) = runner.run(Case(ShardedConfig(6, 4, max_norm=1.0), inputs=[IDS % 6]))
    torch.manual_seed(0)
    (layer,) = ref_sharded.build_world(ShardedConfig(6, 4, max_norm=1.0), 1)
    assert torch.equal(outcome.output, layer(IDS % 6).detach())
