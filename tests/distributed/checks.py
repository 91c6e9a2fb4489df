"""Direct checks of a multi-process backend against the reference's world simulations.

Each function runs one case through a runner and returns the list of differences
from what :mod:`embedspec.reference.vocab_parallel` / :mod:`embedspec.reference.sharded`
compute for the same world (empty when the backend agrees). Forward outputs and
states must match bitwise; gradients and cross-shard renormalisation within a few
units in the last place (S0.7: accumulation order).
"""

from __future__ import annotations

import torch
from embedspec.conformance.case import Case, RankOutcome, World
from embedspec.conformance.distributed import PoolRunner
from embedspec.reference import sharded as ref_sharded
from embedspec.reference import vocab_parallel as ref_vocab
from embedspec.reference.configs import ShardedConfig, VocabParallelConfig
from embedspec.reference.validation import check_indices

ULPS = 8


def close(actual: torch.Tensor | None, expected: torch.Tensor, exact: bool) -> bool:
    if actual is None or actual.shape != expected.shape or actual.dtype != expected.dtype:
        return False
    if exact:
        return torch.equal(actual, expected)
    eps = torch.finfo(expected.dtype).eps
    scale = expected.abs().clamp(min=1.0)
    return bool(((actual - expected).abs() <= ULPS * eps * scale).all())


def grad_outputs(world: World, shape: torch.Size, widths: list[int],
                 dtype: torch.dtype, seed: int = 11) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, widths[p], generator=generator, dtype=dtype)
            for p in range(world.nprocs)]


def error_problems(outcomes: list[RankOutcome], error: type[Exception],
                   states: list[dict[str, torch.Tensor]]) -> list[str]:
    """Every process raised ``error`` and kept the state it loaded (S0.3, S0.4)."""
    problems = []
    for proc, outcome in enumerate(outcomes):
        if outcome.error is None or not outcome.error.is_a(error):
            got = "no error" if outcome.error is None else outcome.error.type
            problems.append(f"process {proc}: expected {error.__name__}, got {got}")
        elif not torch.equal(outcome.state_after["weight"], states[proc]["weight"]):
            problems.append(f"process {proc}: the weight changed although it raised")
    return problems


def vocab_parallel(runner: PoolRunner, config: VocabParallelConfig, world_size: int,
                   input: torch.Tensor, seed: int = 0) -> list[str]:
    """A forward and backward of ``input`` on every rank, against ``world_forward``."""
    world = World(world_size)
    torch.manual_seed(seed)
    layers = ref_vocab.build_world(config, world_size)
    states = [{"weight": layer.weight.detach().clone()} for layer in layers]
    grads = grad_outputs(world, input.shape, [config.embedding_dim] * world_size,
                         config.params_dtype)
    outcomes = runner.run(Case(config, states=states, inputs=[input] * world_size,
                               grad_outputs=grads, world=world))
    try:
        check_indices(input, config.num_embeddings)
    except (TypeError, IndexError) as exc:
        return error_problems(outcomes, type(exc), states)
    expected = ref_vocab.world_forward(layers, input)
    problems = []
    for rank, (outcome, output, layer) in enumerate(zip(outcomes, expected, layers, strict=True)):
        if outcome.error is not None:
            problems.append(f"rank {rank} raised {outcome.error.type}: {outcome.error.message}")
            continue
        output.backward(grads[rank])
        if not close(outcome.output, output.detach(), exact=True):
            problems.append(f"rank {rank}: output differs from the reference")
        if not close(outcome.grads.get("weight"), layer.weight.grad, exact=False):
            problems.append(f"rank {rank}: gradient differs from the reference")
        if not close(outcome.state_after["weight"], layer.weight.detach(), exact=True):
            problems.append(f"rank {rank}: weight after the forward differs")
    return problems


def sharded(runner: PoolRunner, config: ShardedConfig, world: World,
            inputs: list[torch.Tensor], seed: int = 0) -> list[str]:
    """A forward and backward on every process (``inputs``: one per replica), against
    ``world_forward`` (``grid_forward`` and ``owner_gradient`` for a grid)."""
    torch.manual_seed(seed)
    grid = ref_sharded.build_grid(config, world.size, world.dp_size)
    states = [{"weight": grid[d][r].weight.detach().clone()}
              for d in range(world.dp_size) for r in range(world.size)]
    proc_inputs = [inputs[world.coords(p)[0]] for p in range(world.nprocs)]
    widths = [layer.weight.shape[1] for layer in grid[0]]
    out_widths = [config.embedding_dim if config.gather_output else widths[world.coords(p)[1]]
                  for p in range(world.nprocs)]
    grads = grad_outputs(world, inputs[0].shape, out_widths, config.dtype)
    outcomes = runner.run(Case(config, states=states, inputs=proc_inputs, grad_outputs=grads,
                               world=world))
    for x in inputs:
        try:
            check_indices(x, config.num_embeddings)
        except (TypeError, IndexError) as exc:
            return error_problems(outcomes, type(exc), states)
    if world.dp_size == 1:
        expected = [ref_sharded.world_forward(grid[0], inputs[0])]
    else:
        expected = ref_sharded.grid_forward(grid, inputs)
    problems = []
    for proc, outcome in enumerate(outcomes):
        dp_rank, rank = world.coords(proc)
        if outcome.error is not None:
            problems.append(f"process {proc} raised {outcome.error.type}: "
                            f"{outcome.error.message}")
            continue
        expected[dp_rank][rank].backward(grads[proc])
        if not close(outcome.output, expected[dp_rank][rank].detach(), exact=True):
            problems.append(f"process {proc}: output differs from the reference")
    for rank, owner in enumerate(grid[0]):
        outcome = outcomes[rank]
        if outcome.error is not None:
            continue
        if not close(outcome.grads.get("weight"), owner.weight.grad, exact=False):
            problems.append(f"rank {rank}: owner gradient differs from the reference")
        if not close(outcome.state_after["weight"], owner.weight.detach(), exact=True):
            problems.append(f"rank {rank}: stored shard after the forward differs")
    return problems
