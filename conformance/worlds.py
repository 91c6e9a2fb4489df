"""Per-process reference states and expected outcomes of multi-rank cases.

A multi-rank check (vocab_parallel, sharded) starts from one *full table*: the
``(num_embeddings, embedding_dim)`` table of the unsharded layer, rows in token-id
order. Every process of a :class:`~embedspec.conformance.case.World` loads its shard
of that table (:func:`process_states`), runs the case, and reports a
:class:`~embedspec.conformance.case.RankOutcome`. What each process must observe
(:class:`Expected`) comes from the reference simulating the same world in one process
(:func:`embedspec.reference.vocab_parallel.world_forward`,
:func:`embedspec.reference.sharded.world_forward` and ``grid_forward``).

Model-parallel rules (``world.dp_size == 1``):

* vocab_parallel: rank r loads ``shard_full_weight(table, config, r, P)`` (its base and
  added rows in local order), with every vocab padding row set to the scenario's
  ``vocab_padding_fill`` (a correct layer never reads a padding row, so a non-zero
  fill exposes one that does). Every rank returns the all-reduced output (the rows of
  the ids); rank r's gradient is its shard of the unsharded gradient computed from
  *its own* output gradient (identity backward of the all-reduce); padding rows get
  exact zeros. The weight is unchanged by a forward.
* sharded: rank r loads the column block ``column_range(D, r, P, partition)`` of the
  table. It returns the full row (``gather_output``) or its block; its gradient is
  the column block of the gradient of its own output gradient (slice backward of the
  all-gather). With ``max_norm`` every stored shard holds the rows renormalised by the
  *full-row* norm (reduced across shards); other rows stay bitwise as loaded.

Data-parallel grid rules (sharded only, ``world.dp_size > 1``; process
``proc = dp_rank * world.size + rank``):

* every replica's rank r loads the *owner's* shard (replica 0's), so all replicas
  start identical;
* every replica looks up *its own* input in the owner's shards: the output of
  process ``(d, r)`` is what rank r of a plain world returns for replica d's input;
* with ``max_norm``, the owner renormalises once the union of the rows referenced by
  every replica's input; each replica's output reads those renormalised rows;
* the owner's gradient (replica 0) is the sum over replicas of each replica's gradient
  of the shard (:func:`~embedspec.reference.sharded.owner_gradient`), each computed
  from that process's own output gradient (and its own ``scale_grad_by_freq``
  counts); non-owner gradients are not checked;
* the owner's state after the forward is checked; non-owner states are not (the spec
  leaves what a replica stores open) except after an error, when every process must
  hold exactly what it loaded.

Errors: an invalid input (index dtype, S0.2; id range, S0.3) makes every process
whose input it is raise the reference's error class and leaves every process's state
exactly as loaded (S0.4). Scenarios where only some replicas of a grid see an
invalid input are outside the spec and rejected here. A bad configuration raises
``ValueError`` on every process (S0.5); a bad checkpoint makes ``weight_loader``
raise ``ValueError`` on every rank, leaving every shard unchanged (S3.9).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from embedspec.conformance.case import Case, World
from embedspec.reference import sharded as ref_sharded
from embedspec.reference import vocab_parallel as ref_vocab
from embedspec.reference.configs import LayerConfig, ShardedConfig, VocabParallelConfig
from embedspec.reference.partition import column_range
from embedspec.reference.validation import check_indices
from embedspec.reference.vocab_parallel_sizes import VocabLayout

__all__ = [
    "Expected",
    "Scenario",
    "column_block",
    "expected_build",
    "expected_forward",
    "expected_weight_loader",
    "forward_case",
    "output_widths",
    "process_states",
    "reference_error",
]


@dataclass
class Scenario:
    """The data of one multi-rank forward case, before it becomes a :class:`Case`.

    ``table``: the full ``(num_embeddings, D)`` table every shard is cut from.
    ``inputs``/``grad_outputs``: one per process (see the module docstring).
    ``vocab_padding_fill``: value of every vocab padding row (vocab_parallel only).
    """

    config: VocabParallelConfig | ShardedConfig
    world: World
    table: torch.Tensor
    inputs: list[torch.Tensor]
    grad_outputs: list[torch.Tensor] | None = None
    vocab_padding_fill: float = 0.0

    def __post_init__(self) -> None:
        _check_family(self.config)
        if len(self.inputs) != self.world.nprocs:
            raise ValueError(f"inputs must hold one tensor per process ({self.world.nprocs}), "
                             f"got {len(self.inputs)}")
        if self.config.family == "vocab_parallel" and self.world.dp_size != 1:
            raise ValueError("vocab_parallel has no data-parallel replicas; "
                             f"got world {self.world}")


@dataclass
class Expected:
    """What one process must observe. A field left None is not checked.

    ``grad_terms``: the most output-gradient terms summed into one element of the
    expected gradient (tolerance of accumulations, S0.7). ``cross_shard_norm``: the
    output and state went through a full-row norm reduced across shards, which may
    differ from the reference by summation order only (S4, S0.7).
    """

    error: type[BaseException] | None = None
    output: torch.Tensor | None = None
    grads: dict[str, torch.Tensor] | None = None
    grad_terms: int = 1
    state_after: dict[str, torch.Tensor] | None = None
    state_before: dict[str, torch.Tensor] = field(default_factory=dict)
    cross_shard_norm: bool = False


def _check_family(config: LayerConfig) -> None:
    if not isinstance(config, VocabParallelConfig | ShardedConfig):
        raise TypeError(f"config must be a VocabParallelConfig or a ShardedConfig, "
                        f"got {type(config).__name__}")


# ---------------------------------------------------------------------------------------
# States


def column_block(config: ShardedConfig, world_size: int, rank: int) -> tuple[int, int]:
    """The columns ``[start, end)`` that ``rank`` of ``world_size`` stores (S4.1)."""
    return column_range(config.embedding_dim, rank, world_size, config.partition)


def _vocab_local_table(config: VocabParallelConfig, world_size: int, rank: int,
                       full: torch.Tensor, padding_fill: float) -> torch.Tensor:
    local = ref_vocab.shard_full_weight(full, config, rank, world_size)
    if padding_fill:
        layout = _vocab_layout(config, world_size)
        s = layout.shard_indices(rank)
        local[s.num_org_elements:s.num_org_elements_padded] = padding_fill
        local[s.num_org_elements_padded + s.num_added_elements:] = padding_fill
    return local


def _vocab_layout(config: VocabParallelConfig, world_size: int) -> VocabLayout:
    return VocabLayout.create(config.num_embeddings, config.org_num_embeddings,
                              config.padding_size, world_size)


def process_states(config: VocabParallelConfig | ShardedConfig, world: World,
                   table: torch.Tensor, *,
                   vocab_padding_fill: float = 0.0) -> list[dict[str, torch.Tensor]]:
    """The state dict every process loads, in process order (see the module docstring).

    Replicas of a grid load the owner's shard: the state of process ``(d, r)`` is the
    state of rank r.
    """
    _check_family(config)
    size = world.size
    if config.family == "vocab_parallel":
        per_rank = [_vocab_local_table(config, size, r, table, vocab_padding_fill)
                    for r in range(size)]
    else:
        per_rank = [table[:, slice(*column_block(config, size, r))].clone()
                    for r in range(size)]
    return [{"weight": per_rank[world.coords(proc)[1]].clone()} for proc in range(world.nprocs)]


def output_widths(scenario: Scenario) -> list[int]:
    """The last dim of each process's output: ``D``, or the rank's block when a sharded
    layer does not gather."""
    config, world = scenario.config, scenario.world
    if config.family == "sharded" and not config.gather_output:
        widths = [column_block(config, world.size, r) for r in range(world.size)]
        return [widths[world.coords(p)[1]][1] - widths[world.coords(p)[1]][0]
                for p in range(world.nprocs)]
    return [config.embedding_dim] * world.nprocs


def forward_case(scenario: Scenario, device: str = "cpu", *, repeat: int = 1) -> Case:
    """The :class:`Case` every process of the scenario's world runs."""
    return Case(
        config=scenario.config,
        states=process_states(scenario.config, scenario.world, scenario.table,
                              vocab_padding_fill=scenario.vocab_padding_fill),
        inputs=[x.clone() for x in scenario.inputs],
        grad_outputs=None if scenario.grad_outputs is None
        else [g.clone() for g in scenario.grad_outputs],
        world=scenario.world,
        device=device,
        action="forward",
        repeat=repeat,
    )


# ---------------------------------------------------------------------------------------
# Reference worlds


def _reference_world(config: VocabParallelConfig | ShardedConfig, size: int,
                     states: Sequence[dict[str, torch.Tensor]]) -> list[torch.nn.Module]:
    """Reference layers of ranks ``0..size-1`` holding ``states`` (one per rank)."""
    layers: list[torch.nn.Module] = []
    for rank in range(size):
        if config.family == "vocab_parallel":
            layer = ref_vocab.VocabParallelEmbedding.from_config(
                config, rank=rank, world_size=size, device="meta")
        else:
            layer = ref_sharded.ShardedEmbedding.from_config(
                config, rank=rank, world_size=size, device="meta")
        layer.load_state_dict({k: v.clone() for k, v in states[rank].items()}, assign=True)
        layers.append(layer)
    return layers


def reference_error(build: Callable[[], object]) -> type[BaseException] | None:
    """The class of the exception ``build()`` raises, or None."""
    try:
        build()
    except Exception as exc:  # the reference's error class is the expectation
        return type(exc)
    return None


def _input_error(config: VocabParallelConfig | ShardedConfig,
                 indices: torch.Tensor) -> type[BaseException] | None:
    return reference_error(lambda: check_indices(indices, config.num_embeddings))


def _max_id_count(inputs: Sequence[torch.Tensor]) -> int:
    ids = torch.cat([x.reshape(-1).to(torch.int64) for x in inputs])
    return int(torch.bincount(ids).max()) if ids.numel() else 1


def _grad_of(output: torch.Tensor, weight: torch.Tensor,
             grad_output: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(output, weight, grad_output, allow_unused=True)
    return torch.zeros_like(weight) if grad is None else grad.detach()


def expected_forward(scenario: Scenario) -> list[Expected]:
    """Every process's :class:`Expected` for :func:`forward_case` of ``scenario``."""
    config, world = scenario.config, scenario.world
    states = process_states(config, world, scenario.table,
                            vocab_padding_fill=scenario.vocab_padding_fill)
    replica_inputs = [scenario.inputs[d * world.size] for d in range(world.dp_size)]
    errors = [_input_error(config, x) for x in replica_inputs]
    if any(e is not None for e in errors):
        if any(e is None for e in errors):
            raise ValueError("a grid where only some replicas see an invalid input is outside "
                             "the spec; give every replica an invalid input or none")
        return [Expected(error=errors[world.coords(p)[0]], state_after=states[p],
                         state_before=states[p]) for p in range(world.nprocs)]
    if world.dp_size == 1:
        return _expected_world(scenario, states, replica_inputs[0])
    return _expected_grid(scenario, states, replica_inputs)


def _expected_world(scenario: Scenario, states: list[dict[str, torch.Tensor]],
                    indices: torch.Tensor) -> list[Expected]:
    config, size = scenario.config, scenario.world.size
    layers = _reference_world(config, size, states)
    family = ref_vocab if config.family == "vocab_parallel" else ref_sharded
    outputs = family.world_forward(layers, indices)
    renorms = config.family == "sharded" and config.max_norm is not None
    expected = []
    for rank, (layer, out) in enumerate(zip(layers, outputs, strict=True)):
        grads = None
        if scenario.grad_outputs is not None:
            grads = {"weight": _grad_of(out, layer.weight, scenario.grad_outputs[rank])}
        expected.append(Expected(
            output=out.detach(), grads=grads, grad_terms=_max_id_count([indices]),
            state_after={"weight": layer.weight.detach().clone()},
            state_before=states[rank], cross_shard_norm=renorms and size > 1))
    return expected


def _expected_grid(scenario: Scenario, states: list[dict[str, torch.Tensor]],
                   replica_inputs: list[torch.Tensor]) -> list[Expected]:
    config, world = scenario.config, scenario.world
    grid = [_reference_world(config, world.size, states[d * world.size:(d + 1) * world.size])
            for d in range(world.dp_size)]
    outputs = ref_sharded.grid_forward(grid, replica_inputs)
    owner = grid[0]
    renorms = config.max_norm is not None
    expected = []
    for proc in range(world.nprocs):
        dp_rank, rank = world.coords(proc)
        is_owner = dp_rank == 0
        expected.append(Expected(
            output=outputs[dp_rank][rank].detach(),
            state_after={"weight": owner[rank].weight.detach().clone()} if is_owner else None,
            state_before=states[proc], cross_shard_norm=renorms and world.size > 1,
            grad_terms=_max_id_count(replica_inputs)))
    if scenario.grad_outputs is not None:
        for rank in range(world.size):
            replica_grads = [
                _grad_of(outputs[d][rank], owner[rank].weight,
                         scenario.grad_outputs[d * world.size + rank])
                for d in range(world.dp_size)]
            expected[rank].grads = {"weight": ref_sharded.owner_gradient(replica_grads)}
    return expected


# ---------------------------------------------------------------------------------------
# Construction and checkpoint loading


def _reference_build(config: VocabParallelConfig | ShardedConfig, rank: int,
                     world_size: int) -> torch.nn.Module:
    _check_family(config)
    cls = (ref_vocab.VocabParallelEmbedding if config.family == "vocab_parallel"
           else ref_sharded.ShardedEmbedding)
    return cls.from_config(config, rank=rank, world_size=world_size, device="meta")


def expected_build(config: VocabParallelConfig | ShardedConfig,
                   world: World) -> list[Expected]:
    """Per process: the error the reference raises building its layer (None if none)."""
    expected = []
    for proc in range(world.nprocs):
        rank = world.coords(proc)[1]
        error = reference_error(lambda rank=rank: _reference_build(config, rank, world.size))
        expected.append(Expected(error=error))
    return expected


def expected_weight_loader(config: VocabParallelConfig, world: World,
                           states: Sequence[dict[str, torch.Tensor]],
                           loaded_weight: torch.Tensor) -> list[Expected]:
    """Per rank: the reference's ``weight_loader(weight, loaded_weight)`` on a layer
    holding ``states[rank]``: its error class and the state it leaves (S3.9)."""
    if world.dp_size != 1:
        raise ValueError(f"vocab_parallel has no data-parallel replicas; got world {world}")
    layers = _reference_world(config, world.size, states)
    expected = []
    for rank, layer in enumerate(layers):
        error = reference_error(lambda layer=layer: layer.weight_loader(
            layer.weight, loaded_weight.clone()))
        expected.append(Expected(error=error,
                                 state_after={"weight": layer.weight.detach().clone()},
                                 state_before=states[rank]))
    return expected
