"""What every process of a sharded case must observe (S4), from the reference
simulating the world (:func:`embedspec.reference.sharded.world_forward`) or the
data-parallel grid (``grid_forward``).

Model-parallel worlds (``world.dp_size == 1``): rank r returns the full rows
(``gather_output``) or its column block, bitwise; its gradient is the column block of
the gradient of its own output gradient (slice backward of the all-gather), within
the S0.7 bound. With ``max_norm`` the stored shards hold the rows renormalised by the
*full-row* norm (reduced across shards, within the renorm bound; rows whose norm is
within rounding of ``max_norm`` may go either way), every other row bitwise as
loaded, and the output is bitwise the stored rows.

Data-parallel grids (``world.dp_size > 1``; process ``proc = dp_rank * world.size +
rank``; replica 0 is the owner):

* every replica looks up *its own* input in the owner's shards: process ``(d, r)``
  returns what rank r of a plain world returns for replica d's input;
* with ``max_norm``, the owner renormalises once the union of the rows referenced by
  every replica's input, and every replica's output reads those rows;
* the owner's gradient is the sum over replicas of each replica's gradient of the
  shard (:func:`~embedspec.reference.sharded.owner_gradient`), each computed from that
  process's own output gradient (and its own ``scale_grad_by_freq`` counts);
  non-owner gradients are not checked;
* the owner's state after the forward is checked, non-owner states are not (the spec
  leaves what a replica stores open), except after an error.

Errors of a bad configuration or input are those of
:mod:`~embedspec.conformance.expected_world`.
"""

from __future__ import annotations

import torch
from embedspec.conformance import tolerance
from embedspec.conformance.case import Case
from embedspec.conformance.expected_world import (
    Expected,
    expected_errors,
    grad_of,
    reference_world,
    replica_inputs,
)
from embedspec.conformance.world_states import column_block
from embedspec.reference import sharded as ref_sharded
from embedspec.reference.configs import ShardedConfig
from embedspec.reference.validation import normalize_padding_idx


def expected_forward(case: Case) -> list[Expected]:
    """Every process's :class:`Expected` for a forward (and backward) of ``case``."""
    errors = expected_errors(case)
    if errors is not None:
        return errors
    config, world = case.config, case.world
    inputs = replica_inputs(case)
    grid = [reference_world(config, world.size, case.states[d * world.size:][:world.size])
            for d in range(world.dp_size)]
    if world.dp_size == 1:
        outputs = [ref_sharded.world_forward(grid[0], inputs[0])]
    else:
        outputs = ref_sharded.grid_forward(grid, inputs)
    owner = grid[0]
    renorm = None
    if config.max_norm is not None:
        full_before = torch.cat([case.states[r]["weight"] for r in range(world.size)], dim=1)
        union = torch.cat([x.reshape(-1).to(torch.int64) for x in inputs])
        renorm = tolerance.renormalisation(full_before, union, config.max_norm,
                                           config.norm_type)
    expected = []
    for proc in range(world.nprocs):
        dp_rank, rank = world.coords(proc)
        is_owner = dp_rank == 0
        expected.append(Expected(
            output=outputs[dp_rank][rank].detach(),
            state_after={"weight": owner[rank].weight.detach().clone()} if is_owner else None,
            state_before=case.states[proc], renorm=renorm))
    if case.grad_outputs is not None:
        for rank in range(world.size):
            grads, bounds = _owner_gradient(case, inputs, owner[rank], outputs, rank)
            expected[rank].grads = {"weight": grads}
            expected[rank].grad_bounds = {"weight": bounds}
    return expected


def _owner_gradient(case: Case, inputs: list[torch.Tensor], layer: torch.nn.Module,
                    outputs: list[list[torch.Tensor]],
                    rank: int) -> tuple[torch.Tensor, tolerance.Bound]:
    """Rank ``rank``'s expected gradient (summed over replicas in a grid) and its bound."""
    config, world = case.config, case.world
    replica_grads, bound = [], tolerance.Bound()
    for dp_rank, indices in enumerate(inputs):
        grad_output = case.grad_outputs[dp_rank * world.size + rank]
        replica_grads.append(grad_of(outputs[dp_rank][rank], layer.weight, grad_output))
        bound = bound + gradient_bound(config, world.size, rank, indices, grad_output,
                                       layer.weight.dtype)
    total = ref_sharded.owner_gradient(replica_grads)
    if len(replica_grads) > 1:
        magnitude = sum(g.to(torch.float64).abs() for g in replica_grads)
        bound = bound + tolerance.Bound.of(float(len(replica_grads) - 1), magnitude,
                                           layer.weight.dtype)
    return total, bound


def gradient_bound(config: ShardedConfig, world_size: int, rank: int,
                   indices: torch.Tensor, grad_output: torch.Tensor,
                   dtype: torch.dtype) -> tolerance.Bound:
    """The S0.7 bound of one process's gradient of its shard, from the unsharded bound."""
    if grad_output.shape[-1] == 0:
        return tolerance.Bound()  # a rank without columns: nothing to bound
    full = tolerance.weight_gradient(
        indices, grad_output, config.num_embeddings,
        padding_idx=normalize_padding_idx(config.padding_idx, config.num_embeddings),
        scale_grad_by_freq=config.scale_grad_by_freq, dtype=dtype)
    if config.gather_output:
        return columns(full, *column_block(config, world_size, rank))
    return full


def columns(bound: tolerance.Bound, start: int, end: int) -> tolerance.Bound:
    """The bound of columns ``[start, end)`` of a ``(V, D)`` bound."""
    def cut(t: torch.Tensor) -> torch.Tensor:
        return t[..., start:end] if t.dim() and t.shape[-1] > 1 else t

    return tolerance.Bound(tuple(tolerance.Part(cut(p.terms), cut(p.magnitude), p.dtype)
                                 for p in bound.parts))
