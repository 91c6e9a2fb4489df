"""Checks of a multi-process backend on hand-written cases, through the suite's own
:func:`~embedspec.conformance.checks.check` and tolerance policy.

Each function builds one case (every process loading its shard of one table drawn by
the reference's world builder after ``torch.manual_seed(seed)``, with an output
gradient per process), runs it through a runner and returns the failure (empty when
the backend agrees with the reference).
"""

from __future__ import annotations

import torch
from embedspec.backends.registry import load_backend
from embedspec.conformance.checks import Case, Target, World, check
from embedspec.conformance.distributed import PoolRunner
from embedspec.reference import sharded as ref_sharded
from embedspec.reference import vocab_parallel as ref_vocab
from embedspec.reference.configs import ShardedConfig, VocabParallelConfig
from embedspec.reference.validation import check_indices


def _grad_outputs(world: World, shape: torch.Size, widths: list[int],
                  dtype: torch.dtype, seed: int = 11) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, widths[p], generator=generator, dtype=dtype)
            for p in range(world.nprocs)]


def _error_of(inputs: list[torch.Tensor], num_embeddings: int) -> type[Exception] | None:
    for x in inputs:
        try:
            check_indices(x, num_embeddings)
        except (TypeError, IndexError) as exc:
            return type(exc)
    return None


def run_check(runner: PoolRunner, case: Case) -> list[str]:
    """The suite's check of ``case`` on ``runner``'s backend: ``[]`` when it passes,
    else the failure's message and notes. An invalid input must raise its error on
    every process."""
    target = Target(runner, load_backend(runner.backend_spec), runner.device,
                    runner.backend_spec)
    error = _error_of(case.inputs, case.config.num_embeddings)
    try:
        check(target, case, error=error)
    except AssertionError as exc:
        notes = [n for n in getattr(exc, "__notes__", ()) if not n.startswith("Reproduce")]
        return ["\n".join([str(exc), *notes])]
    return []


def vocab_parallel(runner: PoolRunner, config: VocabParallelConfig, world_size: int,
                   input: torch.Tensor, seed: int = 0) -> list[str]:
    """A forward and backward of ``input`` on every rank."""
    world = World(world_size)
    torch.manual_seed(seed)
    layers = ref_vocab.build_world(config, world_size)
    states = [{"weight": layer.weight.detach().clone()} for layer in layers]
    grads = _grad_outputs(world, input.shape, [config.embedding_dim] * world_size,
                          config.params_dtype)
    return run_check(runner, Case(config, states=states, inputs=[input] * world_size,
                                  grad_outputs=grads, world=world))


def sharded(runner: PoolRunner, config: ShardedConfig, world: World,
            inputs: list[torch.Tensor], seed: int = 0) -> list[str]:
    """A forward and backward on every process (``inputs``: one per replica)."""
    torch.manual_seed(seed)
    grid = ref_sharded.build_grid(config, world.size, world.dp_size)
    states = [{"weight": grid[d][r].weight.detach().clone()}
              for d in range(world.dp_size) for r in range(world.size)]
    proc_inputs = [inputs[world.coords(p)[0]] for p in range(world.nprocs)]
    widths = [layer.weight.shape[1] for layer in grid[0]]
    out_widths = [config.embedding_dim if config.gather_output else widths[world.coords(p)[1]]
                  for p in range(world.nprocs)]
    grads = _grad_outputs(world, inputs[0].shape, out_widths, config.dtype)
    return run_check(runner, Case(config, states=states, inputs=proc_inputs,
                                  grad_outputs=grads, world=world))
