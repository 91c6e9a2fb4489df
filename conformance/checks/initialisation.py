"""What a freshly initialised layer must hold (S1.7, S2, S3.8, S4, S5), for every world:
the full ``(V, D)`` table its processes hold together, in id order, the rows that must
be exactly zero, and the law the other rows follow.

* embedding, stable, sharded: the configuration's ``init`` scheme over the full table
  (a sharded layer's shards are column blocks of one table: a scheme's parameters are
  those of the full ``(V, D)``), the padding row zero;
* binary: N(0, 1), the padding row zero;
* vocab_parallel: N(0, 1) over the ``V`` base and added rows, every vocab padding row of
  every shard zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from embedspec.conformance.checks.case import Case, RankOutcome
from embedspec.conformance.checks.expected.common import multi_rank_layer, padding_row
from embedspec.conformance.checks.states import vocab_row_map
from embedspec.reference.configs import InitScheme


@dataclass
class FreshTable:
    """The table a world of processes holds after initialisation.

    ``table``: ``(V, D)``, rows in id order. ``keep``: the rows that follow ``scheme``
    (every row but the padding row). ``zeros``: ``(what, values)`` that must be exactly
    zero: the padding row, a vocab-parallel shard's padding rows.
    """

    table: torch.Tensor
    keep: torch.Tensor
    scheme: InitScheme
    zeros: list[tuple[str, torch.Tensor]] = field(default_factory=list)


def scheme_of(case: Case) -> InitScheme:
    """The scheme a fresh layer of ``case``'s family draws its table from."""
    return getattr(case.config, "init", "normal")


def shapes(case: Case) -> list[tuple[int, ...]]:
    """The reference's ``weight`` shape of every process (multi-rank families)."""
    world = case.world
    return [tuple(multi_rank_layer(case.config, world.coords(p)[1], world.size).weight.shape)
            for p in range(world.nprocs)]


def fresh_table(case: Case, outcomes: Sequence[RankOutcome]) -> FreshTable:
    """The full table of a freshly built (or reset) world, from the processes' states;
    replicas of a grid are ignored (replica 0 owns the weights)."""
    config, world = case.config, case.world
    weights = [outcomes[rank].state_after["weight"] for rank in range(world.size)]
    zeros = []
    if config.family == "vocab_parallel":
        table = torch.empty(config.num_embeddings, config.embedding_dim,
                            dtype=weights[0].dtype)
        for rank, local in enumerate(weights):
            row_map = vocab_row_map(config, world.size, rank)
            table[row_map[row_map >= 0]] = local[row_map >= 0]
            zeros.append((f"vocab padding rows of rank {rank}", local[row_map < 0]))
    else:
        table = torch.cat(weights, dim=1)
    keep = torch.ones(table.shape[0], dtype=torch.bool)
    padding = padding_row(config) if hasattr(config, "padding_idx") else None
    if padding is not None:
        keep[padding] = False
        zeros.append((f"padding row {padding}", table[padding]))
    return FreshTable(table, keep, scheme_of(case), zeros)
