"""ProcessGroupCollectives over real gloo process groups (worlds of 2 and 3 processes).

Each case runs the probe backend (tests/distributed/probes.py): every rank loads its
own weight, looks up the same input and applies one collective; the outputs and the
gradients are checked against what the collective's forward and backward convention
(embedspec.reference.collectives) says.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from embedspec.conformance.checks.case import Case, World
from embedspec.conformance.distributed import PoolRunner
from embedspec.reference.configs import ShardedConfig
from embedspec.reference.partition import column_range, partition_sizes
from embedspec.reference.sharded_norm import combine_norm_terms

V = 6
INPUTS = {
    "1-d": torch.tensor([0, 5, 2, 2]),
    "0-d": torch.tensor(3),
    "empty": torch.zeros(0, dtype=torch.int64),
    "2-d non-contiguous int32": torch.tensor([[1, 4], [0, 1], [5, 3]], dtype=torch.int32).t(),
}


@pytest.fixture(scope="module")
def runner() -> Iterator[PoolRunner]:
    with PoolRunner("tests.distributed.probes:CollectivesProbe", timeout_s=60) as pool:
        yield pool


def integer_weights(world: World, width: int, dtype: torch.dtype) -> list[torch.Tensor]:
    """Small integers: their sums are exact in any order, so results compare bitwise."""
    generator = torch.Generator().manual_seed(world.nprocs * 100 + width)
    return [torch.randint(-50, 50, (V, width), generator=generator).to(dtype)
            for _ in range(world.nprocs)]


def grad_outputs(input: torch.Tensor, width: int, nprocs: int,
                 dtype: torch.dtype) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    return [torch.randn(*input.shape, width, generator=generator, dtype=dtype)
            for _ in range(nprocs)]


def scattered(input: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """The gradient of ``weight[input]`` for output gradient ``grad``."""
    width = grad.shape[-1]
    total = torch.zeros(V, width, dtype=grad.dtype)
    return total.index_add_(0, input.reshape(-1).long(), grad.reshape(input.numel(), width))


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("name", list(INPUTS))
def test_all_reduce_sum_sums_forward_and_passes_gradient_through(
        runner: PoolRunner, size: int, name: str) -> None:
    world, input, dtype, dim = World(size), INPUTS[name], torch.float64, 4
    weights = integer_weights(world, dim, dtype)
    grads = grad_outputs(input, dim, size, dtype)
    config = ShardedConfig(V, dim, gather_output=False, dtype=dtype)
    outcomes = runner.run(Case(config, states=[{"weight": w} for w in weights],
                               inputs=[input] * size, grad_outputs=grads, world=world))
    expected = sum(w[input] for w in weights)
    for rank, outcome in enumerate(outcomes):
        assert outcome.error is None, outcome.error
        assert torch.equal(outcome.output, expected)
        assert torch.equal(outcome.grads["weight"], scattered(input, grads[rank]))


@pytest.mark.parametrize(("dim", "size", "partition"),
                         [(5, 3, "balanced"), (2, 3, "balanced"), (4, 2, "even"),
                          (7, 2, "balanced")])
@pytest.mark.parametrize("name", list(INPUTS))
def test_all_gather_last_dim_concatenates_in_rank_order_and_slices_gradient(
        runner: PoolRunner, dim: int, size: int, partition: str, name: str) -> None:
    world, input, dtype = World(size), INPUTS[name], torch.float32
    widths = partition_sizes(dim, size, partition)
    generator = torch.Generator().manual_seed(dim)
    weights = [torch.randn(V, width, generator=generator) for width in widths]
    grads = grad_outputs(input, dim, size, dtype)
    config = ShardedConfig(V, dim, partition=partition, gather_output=True, dtype=dtype)
    outcomes = runner.run(Case(config, states=[{"weight": w} for w in weights],
                               inputs=[input] * size, grad_outputs=grads, world=world))
    expected = torch.cat([w[input] for w in weights], dim=-1)
    for rank, outcome in enumerate(outcomes):
        assert outcome.error is None, outcome.error
        assert outcome.output.shape == (*input.shape, dim)
        assert torch.equal(outcome.output, expected)
        start, end = column_range(dim, rank, size, partition)
        assert torch.equal(outcome.grads["weight"], scattered(input, grads[rank][..., start:end]))


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
def test_all_reduce_no_grad_reduces_in_rank_order_identically_everywhere(
        runner: PoolRunner, size: int, norm_type: float) -> None:
    world, input, dtype, dim = World(size), INPUTS["1-d"], torch.float64, 3
    generator = torch.Generator().manual_seed(size)
    # Values of very different magnitudes: a sum in another order would differ.
    weights = [torch.randn(V, dim, generator=generator, dtype=dtype) * 10.0 ** (8 * r)
               for r in range(size)]
    config = ShardedConfig(V, dim, gather_output=False, max_norm=1.0, norm_type=norm_type,
                           dtype=dtype)
    outcomes = runner.run(Case(config, states=[{"weight": w} for w in weights],
                               inputs=[input] * size, world=world))
    expected = combine_norm_terms([w[input] for w in weights], norm_type)
    for outcome in outcomes:
        assert outcome.error is None, outcome.error
        assert torch.equal(outcome.output, expected)


def test_mismatched_sizes_raise_value_error_on_the_calling_rank(runner: PoolRunner) -> None:
    # A world of 2 with partition "even" and D = 3 is a configuration the probe turns into
    # mismatched widths: every rank rejects it before communicating.
    config = ShardedConfig(V, 3, partition="even", gather_output=True)
    outcomes = runner.run(Case(config, inputs=[INPUTS["1-d"]] * 2, world=World(2)))
    for outcome in outcomes:
        assert outcome.error is not None and outcome.error.is_a(ValueError)
