"""One local pool for every world (``PoolRunner(pool_size=...)``, as a conformance run
uses): each world's outcomes are those of a pool of its own size, the workers start
once for all worlds, a later case of a world reaches only that world's processes, and
a failed worker takes the shared pool down for the next case to start a new one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from embedspec.conformance.checks.case import Case, World
from embedspec.conformance.checks.states import Scenario, forward_case
from embedspec.conformance.distributed import PoolRunner, WorkerFailure
from embedspec.reference.configs import ShardedConfig, VocabParallelConfig

from .conftest import process_alive
from .faulty import DIE_DIM

WORLDS = (World(1), World(2), World(3), World(2, dp_size=2))
POOL_SIZE = 4


def _case(world: World) -> Case:
    generator = torch.Generator().manual_seed(world.nprocs)
    table = torch.randn(6, 5, generator=generator)
    inputs = [torch.tensor([[d, 5 - d], [2, 2]]) for d in range(world.dp_size)
              for _ in range(world.size)]
    grads = [torch.randn(2, 2, 5, generator=generator) for _ in range(world.nprocs)]
    return forward_case(Scenario(ShardedConfig(6, 5), world, table, inputs, grads))


@pytest.fixture(scope="module")
def shared() -> Iterator[PoolRunner]:
    with PoolRunner("distributed", timeout_s=60, pool_size=POOL_SIZE) as runner:
        yield runner


def test_every_world_runs_as_on_a_pool_of_its_own(shared, distributed_runner):
    for world in WORLDS:
        case = _case(world)
        torch.manual_seed(0)
        got = shared.run(case)
        torch.manual_seed(0)
        want = distributed_runner.run(case)
        assert len(got) == world.nprocs
        for mine, theirs in zip(got, want, strict=True):
            assert mine.error is None and theirs.error is None, (mine.error, theirs.error)
            assert torch.equal(mine.output, theirs.output)
            mine_grad, their_grad = mine.grads["weight"], theirs.grads["weight"]
            assert (mine_grad is None) == (their_grad is None)
            assert mine_grad is None or torch.equal(mine_grad, their_grad)
    assert len(shared.worker_pids()) == POOL_SIZE, "the workers start once for all worlds"
    assert not shared.supports(World(5)), "no world larger than the pool"


def test_a_failed_worker_takes_the_shared_pool_down_and_the_next_case_starts_another():
    with PoolRunner("tests.distributed.faulty:FaultyBackend", timeout_s=10,
                    pool_size=3) as runner:
        healthy = Case(VocabParallelConfig(8, 4, padding_size=2),
                       inputs=[torch.tensor([1, 6])] * 2, world=World(2))
        assert all(o.error is None for o in runner.run(healthy))
        assert all(o.error is None for o in runner.run(healthy)), "a later case of the world"
        pids = runner.worker_pids()
        dying = Case(VocabParallelConfig(8, DIE_DIM, padding_size=2),
                     inputs=[torch.tensor([1, 6])] * 2, world=World(2))
        with pytest.raises(WorkerFailure, match="the shared worker pool of 3 processes"):
            runner.run(dying)
        assert not any(process_alive(pid) for pid in pids)
        assert all(o.error is None for o in runner.run(healthy))
        assert set(runner.worker_pids()).isdisjoint(pids)


def test_a_pool_size_is_checked():
    with pytest.raises(ValueError, match="pool_size"):
        PoolRunner("distributed", pool_size=0)
    with pytest.raises(ValueError, match="pool_size is for local pools"):
        PoolRunner("distributed", pool_size=2, external="127.0.0.1:0:2")
