"""The ids a scenario's calls look up: a pool of tensors drawn from the table's
distribution, handed out in rotation so that no two consecutive calls see the same
ids and caching one answer does not pay."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch

from .scenarios import Table

#: Id tensors per scenario; every implementation sees the same sequence.
POOL_SIZE = 4


def draw_ids(table: Table, num_ids: int, generator: torch.Generator,
             num_valid: int | None = None) -> torch.Tensor:
    """``num_ids`` int64 ids (CPU) in ``[0, num_valid)`` (default: the table's rows) from
    ``table``'s distribution.

    Zipf: rank ``k`` (1-based) has probability ``k ** -alpha / H``; ranks are mapped to
    rows by a fixed random permutation, so the hot rows are scattered over the table
    as in a real recommender."""
    v = table.num_embeddings if num_valid is None else num_valid
    if table.distribution == "uniform":
        return torch.randint(0, v, (num_ids,), generator=generator)
    if table.distribution != "zipf":
        raise ValueError(f"unknown id distribution {table.distribution!r}")
    weights = torch.arange(1, v + 1, dtype=torch.float64).pow_(-table.alpha)
    ranks = torch.multinomial(weights, num_ids, replacement=True, generator=generator)
    rows = torch.randperm(v, generator=torch.Generator().manual_seed(v))
    return rows[ranks]


class IdPool:
    """:data:`POOL_SIZE` id tensors on ``device``; each :meth:`cycle` hands them out in
    order, round and round, so every implementation sees the same sequence."""

    def __init__(self, table: Table, num_ids: int, device: torch.device, *,
                 num_valid: int | None = None, seed: int = 0, size: int = POOL_SIZE) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.tensors = [draw_ids(table, num_ids, generator, num_valid).to(device)
                        for _ in range(size)]

    def cycle(self) -> Iterator[torch.Tensor]:
        return itertools.cycle(self.tensors)

    def mean_distinct(self) -> float:
        """The mean number of distinct ids per tensor (``U`` of the byte formulas)."""
        return sum(int(t.unique().numel()) for t in self.tensors) / len(self.tensors)
