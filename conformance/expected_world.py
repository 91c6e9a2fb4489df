"""What every process of a multi-rank case must observe (:class:`Expected`), and the
parts of that expectation both multi-rank families share: the reference simulating
the case's world in one process, loaded with the same per-process states, so an
expectation depends only on the :class:`~embedspec.conformance.case.Case`.

Errors, the same for both families: a bad configuration raises on every process what
the reference's constructor raises (``ValueError``, S0.5, :func:`expected_build`); an
invalid input (index dtype, S0.2; id range, S0.3) makes every process raise the
reference's error class and leaves every process's state exactly as loaded (S0.4);
a grid where only some replicas see an invalid input is outside the spec and
rejected here (:func:`expected_errors`). Every process must report, so a backend that
leaves a rank waiting fails with the runner's timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from embedspec.conformance import tolerance
from embedspec.conformance.case import Case
from embedspec.conformance.world_states import MultiRankConfig, require_multi_rank
from embedspec.reference import sharded as ref_sharded
from embedspec.reference import vocab_parallel as ref_vocab
from embedspec.reference.validation import check_indices


@dataclass
class Expected:
    """What one process must observe; a field left None is not checked.

    ``grad_bounds``: per gradient, the allowed difference (S0.7). ``renorm``: set when
    ``max_norm`` renormalised rows; it bounds the full table after the renorm (the
    owner's shards are checked against their columns of it, S1.2/S4), and ``output``
    is then checked against the rows the backend itself stored rather than bitwise
    against the reference's. ``state_before``: what the process loaded.
    """

    error: type[BaseException] | None = None
    output: torch.Tensor | None = None
    grads: dict[str, torch.Tensor] | None = None
    grad_bounds: dict[str, tolerance.Bound] | None = None
    state_after: dict[str, torch.Tensor] | None = None
    state_before: dict[str, torch.Tensor] | None = None
    renorm: tolerance.RenormBound | None = None


def reference_layer(config: MultiRankConfig, rank: int, world_size: int) -> torch.nn.Module:
    """The reference layer of ``rank`` of ``world_size`` (on the meta device)."""
    require_multi_rank(config)
    cls = (ref_vocab.VocabParallelEmbedding if config.family == "vocab_parallel"
           else ref_sharded.ShardedEmbedding)
    return cls.from_config(config, rank=rank, world_size=world_size, device="meta")


def reference_world(config: MultiRankConfig, size: int,
                    states: Sequence[dict[str, torch.Tensor]]) -> list[torch.nn.Module]:
    """Reference layers of ranks ``0..size-1`` holding ``states`` (one per rank)."""
    layers = []
    for rank in range(size):
        layer = reference_layer(config, rank, size)
        layer.load_state_dict({k: v.clone() for k, v in states[rank].items()}, assign=True)
        layers.append(layer)
    return layers


def error_of(call: Callable[[], object]) -> type[BaseException] | None:
    """The class of the exception ``call()`` raises, or None."""
    try:
        call()
    except Exception as exc:  # the reference's error class is the expectation
        return type(exc)
    return None


def expected_build(case: Case) -> list[Expected]:
    """Every process's outcome of building its layer: the reference constructor's
    error class for its rank, or none."""
    world = case.world
    errors = [error_of(lambda rank=rank: reference_layer(case.config, rank, world.size))
              for rank in range(world.size)]
    return [Expected(error=errors[world.coords(p)[1]]) for p in range(world.nprocs)]


def replica_inputs(case: Case) -> list[torch.Tensor]:
    """The input of each replica (that of its rank 0 process), in replica order."""
    return [case.inputs[d * case.world.size] for d in range(case.world.dp_size)]


def expected_errors(case: Case) -> list[Expected] | None:
    """Every process's error for a forward of ``case`` (a build error, else an invalid
    input), or None when the forward must succeed."""
    config, world = case.config, case.world
    build_errors = [e.error for e in expected_build(case)]
    if any(build_errors):
        return [Expected(error=e) for e in build_errors]
    inputs = replica_inputs(case)
    errors = [error_of(lambda x=x: check_indices(x, config.num_embeddings)) for x in inputs]
    if any(errors):
        if not all(errors):
            raise ValueError("a grid where only some replicas see an invalid input is outside "
                             "the spec; give every replica an invalid input or none")
        return [Expected(error=errors[world.coords(p)[0]], state_before=case.states[p])
                for p in range(world.nprocs)]
    return None


def grad_of(output: torch.Tensor, weight: torch.Tensor,
            grad_output: torch.Tensor) -> torch.Tensor:
    """The gradient of ``weight`` from ``output.backward(grad_output)`` (zeros when
    ``output`` does not depend on it)."""
    (grad,) = torch.autograd.grad(output, weight, grad_output, allow_unused=True)
    return torch.zeros_like(weight) if grad is None else grad.detach()
