"""The vocabulary layout of the ``vocab_parallel`` family over ``tp_size`` ranks (S3.1-S3.4).

``org_vocab_size`` base ids come first, then ``num_added_embeddings`` added ids.
``org_vocab_size_padded = pad(org_vocab_size)`` and ``num_embeddings_padded =
pad(org_vocab_size_padded + num_added_embeddings)`` (pad: round up to a multiple of
``padding_size``); both divide by ``tp_size``. Rank r owns block r of the padded base
ids and block r of the padded added ids (which start at the *unpadded*
``org_vocab_size``), clipped to the real vocabulary. Its local table holds
``num_embeddings_padded / tp_size`` rows: its base rows, base padding, its added rows,
added padding.

Integer arithmetic, row gathers and the initial draw; the layers validate ids before
using it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from embedspec.backends import support

from .embedding import init_table_

DEFAULT_VOCAB_PADDING_SIZE = 64


def pad_to_multiple(size: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is ``>= size``."""
    return -(-size // multiple) * multiple


@dataclass(frozen=True)
class VocabShard:
    """The real ids one rank owns, ``[base_start, base_end)`` and ``[added_start,
    added_end)``, and where they sit in its local table of ``rows`` rows: base id ``t`` in
    row ``t - base_start``, added id ``t`` in row ``t - added_start + added_row``."""

    base_start: int
    base_end: int
    added_start: int
    added_end: int
    added_row: int
    rows: int

    @property
    def num_base(self) -> int:
        return self.base_end - self.base_start

    @property
    def num_added(self) -> int:
        return self.added_end - self.added_start

    def owned_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Local rows of ids that this rank all owns (every valid id, in a world of one)."""
        shift = self.added_row - self.added_start + self.base_start
        if self.base_start:
            ids = ids - self.base_start
        if self.num_added == 0 or shift == 0:
            return ids
        return torch.where(ids >= self.added_start - self.base_start, ids + shift, ids)

    def masked_rows(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rows, not_mine)`` for any ids (S3.4): the local row of each id this rank owns,
        row 0 for the others, and the bool mask of the others; ``ids``' dtype and shape."""
        is_base = (ids >= self.base_start) & (ids < self.base_end)
        is_added = (ids >= self.added_start) & (ids < self.added_end)
        rows = torch.where(is_base, ids - self.base_start,
                           torch.where(is_added, ids - self.added_start + self.added_row,
                                       torch.zeros_like(ids)))
        return rows, ~(is_base | is_added)

    def cut(self, full: torch.Tensor) -> torch.Tensor:
        """This rank's local table from a ``(num_embeddings, D)`` table in id order;
        padding rows zero."""
        local = full.new_zeros(self.rows, full.shape[1])
        local[:self.num_base] = full[self.base_start:self.base_end]
        local[self.added_row:self.added_row + self.num_added] = \
            full[self.added_start:self.added_end]
        return local


@dataclass(frozen=True)
class VocabLayout:
    """The padded sizes of a vocab-parallel layer over ``tp_size`` ranks; build it with
    :meth:`create`, which checks the preconditions (``ValueError``, S3.1)."""

    num_embeddings: int
    org_vocab_size: int
    padding_size: int
    tp_size: int
    org_vocab_size_padded: int
    num_embeddings_padded: int

    @classmethod
    def create(cls, num_embeddings: object, org_num_embeddings: object = None,
               padding_size: object = DEFAULT_VOCAB_PADDING_SIZE,
               tp_size: object = 1) -> VocabLayout:
        sizes = support.check_vocab_sizes(num_embeddings, org_num_embeddings, padding_size,
                                          tp_size)
        num, org, padding, tp = sizes
        org_padded = pad_to_multiple(org, padding)
        return cls(num, org, padding, tp, org_padded,
                   pad_to_multiple(org_padded + num - org, padding))

    @property
    def num_added_embeddings(self) -> int:
        return self.num_embeddings - self.org_vocab_size

    @property
    def num_embeddings_per_partition(self) -> int:
        return self.num_embeddings_padded // self.tp_size

    def shard(self, rank: int) -> VocabShard:
        """Rank ``rank``'s ids and rows (S3.2)."""
        base_block = self.org_vocab_size_padded // self.tp_size
        added_block = (self.num_embeddings_padded - self.org_vocab_size_padded) // self.tp_size
        base_start = rank * base_block
        added_start = self.org_vocab_size + rank * added_block
        return VocabShard(
            base_start=min(base_start, self.org_vocab_size),
            base_end=min(base_start + base_block, self.org_vocab_size),
            added_start=min(added_start, self.num_embeddings),
            added_end=min(added_start + added_block, self.num_embeddings),
            added_row=base_block, rows=self.num_embeddings_per_partition)

    def initial_shard(self, rank: int, embedding_dim: int, dtype: torch.dtype,
                      device: torch.device | str | None) -> torch.Tensor:
        """Rank ``rank``'s local table of a fresh layer: cut from one N(0, 1) draw of the
        ``(num_embeddings, D)`` table from the global RNG (S3.8), so every rank of a world
        seeded alike holds its part of the same table."""
        full = torch.empty(self.num_embeddings, embedding_dim, dtype=dtype, device=device)
        return self.shard(rank).cut(init_table_(full, "normal", None))

    def full_from_checkpoint(self, loaded: torch.Tensor) -> torch.Tensor:
        """The ``(num_embeddings, D)`` table of a checked checkpoint (S3.9): a base-only
        table gets zero added rows."""
        if loaded.shape[0] == self.num_embeddings:
            return loaded
        return torch.cat([loaded, loaded.new_zeros(self.num_added_embeddings, loaded.shape[1])])

    def sharded_to_full_mapping(self) -> list[int]:
        """Positions in the rank-order concatenation of the local tables (S3.7): every
        rank's base rows, then every rank's added rows, then every padding position."""
        base: list[int] = []
        added: list[int] = []
        padding: list[int] = []
        for rank in range(self.tp_size):
            s = self.shard(rank)
            first = rank * s.rows
            added_first = first + s.added_row
            base.extend(range(first, first + s.num_base))
            padding.extend(range(first + s.num_base, added_first))
            added.extend(range(added_first, added_first + s.num_added))
            padding.extend(range(added_first + s.num_added, first + s.rows))
        return base + added + padding
