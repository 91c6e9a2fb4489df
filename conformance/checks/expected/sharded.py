"""What every process of a sharded case must observe (S4), from the reference
simulating the world (:func:`embedspec.reference.sharded.world_forward`) or the
data-parallel grid (``grid_forward``).

Model-parallel worlds (``world.dp_size == 1``): rank r returns the full rows
(``gather_output``) or its column block, bitwise; its gradient is the column block of
the gradient of its own output gradient (slice backward of the all-gather), within the
S0.7 bound. With ``max_norm`` the stored shards hold the rows renormalised by the
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
  non-owner gradients and states are not checked (the spec leaves them open), except
  after an error.

A bad configuration raises the reference constructor's ``ValueError`` on every
process (S0.5); an invalid input makes every process raise, states unchanged
(S0.2-S0.4).
"""

from __future__ import annotations

import torch
from embedspec.conformance.checks import tolerance
from embedspec.conformance.checks.case import Case
from embedspec.conformance.checks.expected.common import (
    columns_of,
    errors_on_every_process,
    grad_of,
    input_errors,
    multi_rank_build_errors,
    padding_row,
    reference_world,
    renorm_allowance,
    replica_inputs,
)
from embedspec.conformance.checks.expected.model import Expected, StoredRows
from embedspec.conformance.checks.states import column_block
from embedspec.reference import sharded as ref_sharded
from embedspec.reference.configs import ShardedConfig


def expected(case: Case) -> list[Expected]:
    """Every process's :class:`Expected` of a sharded ``case``."""
    build = errors_on_every_process(case, multi_rank_build_errors(case), keep_state=False)
    if build is not None or case.action == "build":
        return build or [Expected() for _ in range(case.world.nprocs)]
    if case.action != "forward":
        raise ValueError(f"sharded has no expectation for action {case.action!r}")
    return input_errors(case) or _forward(case)


def _forward(case: Case) -> list[Expected]:
    config, world = case.config, case.world
    inputs = replica_inputs(case)
    grid = [reference_world(config, world.size, case.states[d * world.size:][:world.size])
            for d in range(world.dp_size)]
    if world.dp_size == 1:
        outputs = [ref_sharded.world_forward(grid[0], inputs[0])]
    else:
        outputs = ref_sharded.grid_forward(grid, inputs)
    owner = grid[0]
    owners = tuple(range(world.size))
    full_before = torch.cat([case.states[r]["weight"] for r in owners], dim=1)
    union = torch.cat([x.reshape(-1).to(torch.int64) for x in inputs])
    expected = []
    for proc in range(world.nprocs):
        dp_rank, rank = world.coords(proc)
        columns = column_block(config, world.size, rank)
        want = Expected(output=outputs[dp_rank][rank].detach())
        if config.max_norm is not None:
            want.output_reads = StoredRows(case.inputs[proc], owners,
                                           None if config.gather_output else columns)
        if dp_rank == 0:
            after = owner[rank].weight.detach().clone()
            want.state_after = {"weight": after}
            if config.max_norm is not None:
                want.renorm = renorm_allowance(full_before, union, config.max_norm,
                                               config.norm_type, case.states[proc]["weight"],
                                               after, columns)
        expected.append(want)
    if case.grad_outputs is not None:
        for rank in owners:
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
        indices, grad_output, config.num_embeddings, padding_idx=padding_row(config),
        scale_grad_by_freq=config.scale_grad_by_freq, dtype=dtype)
    if config.gather_output:
        return columns_of(full, *column_block(config, world_size, rank))
    return full
