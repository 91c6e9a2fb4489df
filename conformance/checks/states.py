"""What every process of a multi-rank case loads and runs.

A multi-rank check (vocab_parallel, sharded) starts from one *full table*: the
``(num_embeddings, embedding_dim)`` table of the unsharded layer, rows in token-id
order. Every process of a :class:`~embedspec.conformance.checks.case.World` loads its shard
of that table (:func:`process_states`):

* vocab_parallel: rank r loads ``shard_full_weight(table, config, r, P)`` (its base
  and added rows in local order, :func:`vocab_row_map`), with every vocab padding row
  set to the scenario's ``vocab_padding_fill`` (a correct layer never reads a padding
  row, so a non-zero fill exposes one that does);
* sharded: rank r loads the column block ``column_range(D, r, P, partition)`` of the
  table (:func:`column_block`);
* in a data-parallel grid (sharded only, process ``proc = dp_rank * world.size +
  rank``), every replica's rank r loads the owner's shard of rank r, so all replicas
  start identical.

A :class:`Scenario` holds the data of one forward case (table, one input and output
gradient per process); :func:`forward_case` turns it into the
:class:`~embedspec.conformance.checks.case.Case` every process runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from embedspec.conformance.checks.case import Case, World
from embedspec.reference import vocab_parallel as ref_vocab
from embedspec.reference.configs import LayerConfig, ShardedConfig, VocabParallelConfig
from embedspec.reference.partition import column_range
from embedspec.reference.vocab_parallel_sizes import VocabLayout

MultiRankConfig = VocabParallelConfig | ShardedConfig


def require_multi_rank(config: LayerConfig) -> None:
    """``TypeError`` unless ``config`` is of a multi-rank family."""
    if not isinstance(config, VocabParallelConfig | ShardedConfig):
        raise TypeError(f"config must be a VocabParallelConfig or a ShardedConfig, "
                        f"got {type(config).__name__}")


def require_world_fits(config: MultiRankConfig, world: World) -> None:
    """``ValueError`` for a world the family cannot run (vocab_parallel has no replicas)."""
    if config.family == "vocab_parallel" and world.dp_size != 1:
        raise ValueError(f"vocab_parallel has no data-parallel replicas; got world {world}")


@dataclass
class Scenario:
    """The data of one multi-rank forward case, before it becomes a :class:`Case`.

    ``table``: the full ``(num_embeddings, D)`` table every shard is cut from.
    ``inputs``/``grad_outputs``: one per process (see the module docstring).
    ``vocab_padding_fill``: value of every vocab padding row (vocab_parallel only).
    """

    config: MultiRankConfig
    world: World
    table: torch.Tensor
    inputs: list[torch.Tensor]
    grad_outputs: list[torch.Tensor] | None = None
    vocab_padding_fill: float = 0.0

    def __post_init__(self) -> None:
        require_multi_rank(self.config)
        require_world_fits(self.config, self.world)
        if len(self.inputs) != self.world.nprocs:
            raise ValueError(f"inputs must hold one tensor per process ({self.world.nprocs}), "
                             f"got {len(self.inputs)}")

    def states(self) -> list[dict[str, torch.Tensor]]:
        return process_states(self.config, self.world, self.table,
                              vocab_padding_fill=self.vocab_padding_fill)


def column_block(config: ShardedConfig, world_size: int, rank: int) -> tuple[int, int]:
    """The columns ``[start, end)`` that ``rank`` of ``world_size`` stores (S4.1)."""
    return column_range(config.embedding_dim, rank, world_size, config.partition)


def _vocab_layout(config: VocabParallelConfig, world_size: int) -> VocabLayout:
    return VocabLayout.create(config.num_embeddings, config.org_num_embeddings,
                              config.padding_size, world_size)


def vocab_row_map(config: VocabParallelConfig, world_size: int, rank: int) -> torch.Tensor:
    """For each local row of ``rank``: the token id it stores, or ``-1`` for a vocab
    padding row (S3.2)."""
    layout = _vocab_layout(config, world_size)
    s = layout.shard_indices(rank)
    rows = torch.full((layout.num_embeddings_per_partition,), -1, dtype=torch.int64)
    rows[:s.num_org_elements] = torch.arange(s.org_vocab_start_index, s.org_vocab_end_index)
    first_added = s.num_org_elements_padded
    rows[first_added:first_added + s.num_added_elements] = torch.arange(
        s.added_vocab_start_index, s.added_vocab_end_index)
    return rows


def process_states(config: MultiRankConfig, world: World, table: torch.Tensor, *,
                   vocab_padding_fill: float = 0.0) -> list[dict[str, torch.Tensor]]:
    """The state dict every process loads, in process order (see the module docstring).

    Replicas of a grid load the owner's shard: the state of process ``(d, r)`` is the
    state of rank r.
    """
    require_multi_rank(config)
    require_world_fits(config, world)
    per_rank = []
    for rank in range(world.size):
        if config.family == "vocab_parallel":
            local = ref_vocab.shard_full_weight(table, config, rank, world.size)
            local[vocab_row_map(config, world.size, rank) < 0] = vocab_padding_fill
        else:
            local = table[:, slice(*column_block(config, world.size, rank))].clone()
        per_rank.append(local)
    return [{"weight": per_rank[world.coords(proc)[1]].clone()} for proc in range(world.nprocs)]


def output_widths(config: MultiRankConfig, world: World) -> list[int]:
    """The last dim of each process's output: ``D``, or the rank's block when a sharded
    layer does not gather."""
    if config.family == "sharded" and not config.gather_output:
        blocks = [column_block(config, world.size, r) for r in range(world.size)]
        return [blocks[world.coords(p)[1]][1] - blocks[world.coords(p)[1]][0]
                for p in range(world.nprocs)]
    return [config.embedding_dim] * world.nprocs


def forward_case(scenario: Scenario, device: str = "cpu") -> Case:
    """The :class:`Case` every process of the scenario's world runs."""
    return Case(
        config=scenario.config,
        states=scenario.states(),
        inputs=[x.clone() for x in scenario.inputs],
        grad_outputs=None if scenario.grad_outputs is None
        else [g.clone() for g in scenario.grad_outputs],
        world=scenario.world,
        device=device,
        action="forward",
    )
