"""Sizes, shard indices and masking of the vocab-parallel family (spec S3.1-S3.4).

Pure integer rules, no parameters: which token ids each tensor-parallel rank owns,
where they sit in the rank's local table, and how an input is masked for one rank.
The names and signatures are FastVideo's (copied from vLLM); the values are the same
as upstream's (F3.1-F3.4), every violated precondition raising ``ValueError`` (S0.5)
instead of an assertion.

Vocabulary layout (S3.1). ``org_vocab_size = org_num_embeddings`` (default
``num_embeddings``) ids form the *base* vocab; the remaining
``num_added_embeddings = num_embeddings - org_vocab_size`` ids (LoRA tokens) form the
*added* vocab and follow it directly: added id ``org_vocab_size + j`` is the j-th added
token. ``org_vocab_size_padded = pad(org_vocab_size)`` and
``num_embeddings_padded = pad(org_vocab_size_padded + num_added_embeddings)``, where pad
rounds up to a multiple of ``padding_size``. Both padded sizes must divide by
``tp_size``. Rank r owns base slice r of the padded base vocab, and added slice r of the
padded added vocab (``num_embeddings_padded - org_vocab_size_padded`` ids, offset by the
*unpadded* ``org_vocab_size``); the ids of those slices beyond the real vocabulary are
padding. Its local table has ``num_embeddings_padded / tp_size`` rows: its base rows,
its base padding rows, its added rows, its added padding rows, in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .validation import check_index_dtype, check_int, check_rank

DEFAULT_VOCAB_PADDING_SIZE = 64
"""The default ``padding_size``: padded vocab sizes are multiples of 64 (S3.1)."""


def pad_vocab_size(vocab_size: int, pad_to: int = DEFAULT_VOCAB_PADDING_SIZE) -> int:
    """The smallest multiple of ``pad_to`` that is ``>= vocab_size`` (S3.1).

    ``vocab_size >= 0`` and ``pad_to >= 1``, else ``ValueError``. ``pad_vocab_size(0) == 0``.
    """
    vocab_size = check_int("vocab_size", vocab_size, minimum=0)
    pad_to = check_int("pad_to", pad_to, minimum=1)
    return -(-vocab_size // pad_to) * pad_to


def vocab_range_from_per_partition_vocab_size(per_partition_vocab_size: int, rank: int,
                                              offset: int = 0) -> Sequence[int]:
    """``(first, last)`` ids, half open, of the ``rank``-th block of
    ``per_partition_vocab_size`` ids, shifted by ``offset`` (S3.1):
    ``(offset + rank * size, offset + (rank + 1) * size)``.
    """
    size = check_int("per_partition_vocab_size", per_partition_vocab_size, minimum=0)
    rank = check_int("rank", rank, minimum=0)
    offset = check_int("offset", offset, minimum=0)
    first = offset + rank * size
    return first, first + size


def vocab_range_from_global_vocab_size(global_vocab_size: int, rank: int, world_size: int,
                                       offset: int = 0) -> Sequence[int]:
    """The ``rank``-th of ``world_size`` equal blocks of ``global_vocab_size`` ids (S3.1).

    ``global_vocab_size`` must divide by ``world_size`` (``ValueError`` otherwise) and
    ``0 <= rank < world_size``.
    """
    size = check_int("global_vocab_size", global_vocab_size, minimum=0)
    rank, world_size = check_rank(rank, world_size)
    if size % world_size:
        raise ValueError(f"global_vocab_size={size} is not divisible by world_size={world_size}")
    return vocab_range_from_per_partition_vocab_size(size // world_size, rank, offset)


@dataclass(frozen=True)
class VocabParallelEmbeddingShardIndices:
    """The id ranges one rank owns (S3.2). All ranges are half open ``[start, end)``.

    ``padded_*`` ranges are the rank's slices of the padded base and added vocab;
    the unpadded ranges are the same slices clipped to the real vocabulary
    (``start = min(padded_start, limit)``, ``end = min(padded_end, limit)`` with
    ``limit = org_vocab_size`` for base ids and ``num_embeddings`` for added ids). A rank
    past the end of the real vocabulary owns an empty unpadded range that starts at the
    limit, possibly before its padded start.

    Invariants, checked at construction (``ValueError``): every start <= its end; every
    unpadded start <= its padded start and every unpadded end <= its padded end; so
    element counts never exceed padded counts.
    """

    padded_org_vocab_start_index: int
    padded_org_vocab_end_index: int
    padded_added_vocab_start_index: int
    padded_added_vocab_end_index: int
    org_vocab_start_index: int
    org_vocab_end_index: int
    added_vocab_start_index: int
    added_vocab_end_index: int

    def __post_init__(self) -> None:
        for name in ("padded_org_vocab", "padded_added_vocab", "org_vocab", "added_vocab"):
            start, end = getattr(self, f"{name}_start_index"), getattr(self, f"{name}_end_index")
            check_int(f"{name}_start_index", start, minimum=0)
            check_int(f"{name}_end_index", end, minimum=0)
            if start > end:
                raise ValueError(f"{name}_start_index={start} exceeds {name}_end_index={end}")
        for kind in ("org", "added"):
            for edge in ("start", "end"):
                real = getattr(self, f"{kind}_vocab_{edge}_index")
                padded = getattr(self, f"padded_{kind}_vocab_{edge}_index")
                if real > padded:
                    raise ValueError(f"{kind}_vocab_{edge}_index={real} exceeds "
                                     f"padded_{kind}_vocab_{edge}_index={padded}")
        if self.num_org_elements > self.num_org_elements_padded:
            raise ValueError("the base range holds more ids than its padded range")
        if self.num_added_elements > self.num_added_elements_padded:
            raise ValueError("the added range holds more ids than its padded range")

    @property
    def num_org_elements(self) -> int:
        """Real base ids owned: ``org_vocab_end_index - org_vocab_start_index``."""
        return self.org_vocab_end_index - self.org_vocab_start_index

    @property
    def num_added_elements(self) -> int:
        """Real added ids owned: ``added_vocab_end_index - added_vocab_start_index``."""
        return self.added_vocab_end_index - self.added_vocab_start_index

    @property
    def num_org_elements_padded(self) -> int:
        """Local base rows, padding included."""
        return self.padded_org_vocab_end_index - self.padded_org_vocab_start_index

    @property
    def num_added_elements_padded(self) -> int:
        """Local added rows, padding included."""
        return self.padded_added_vocab_end_index - self.padded_added_vocab_start_index

    @property
    def num_org_vocab_padding(self) -> int:
        """Base padding rows: ``num_org_elements_padded - num_org_elements``."""
        return self.num_org_elements_padded - self.num_org_elements

    @property
    def num_added_vocab_padding(self) -> int:
        """Added padding rows: ``num_added_elements_padded - num_added_elements``."""
        return self.num_added_elements_padded - self.num_added_elements

    @property
    def num_elements_padded(self) -> int:
        """Rows of the local table: ``num_org_elements_padded + num_added_elements_padded``."""
        return self.num_org_elements_padded + self.num_added_elements_padded


@dataclass(frozen=True)
class VocabLayout:
    """The vocabulary layout of a vocab-parallel layer over ``tp_size`` ranks (S3.1).

    Build it with :meth:`create`, which checks every precondition. ``shard_indices(r)``
    gives rank r's :class:`VocabParallelEmbeddingShardIndices`.
    """

    num_embeddings: int
    org_vocab_size: int
    padding_size: int
    tp_size: int
    org_vocab_size_padded: int
    num_embeddings_padded: int

    @classmethod
    def create(cls, num_embeddings: int, org_num_embeddings: int | None = None,
               padding_size: int = DEFAULT_VOCAB_PADDING_SIZE, tp_size: int = 1) -> VocabLayout:
        """Check the preconditions of S3.1 and compute the padded sizes.

        ``ValueError`` (naming the argument) unless ``num_embeddings >= 0``,
        ``org_num_embeddings`` is None or an integer in ``[1, num_embeddings]``,
        ``padding_size >= 1``, ``tp_size >= 1``, and both ``org_vocab_size_padded`` and
        ``num_embeddings_padded`` divide by ``tp_size``.
        """
        num_embeddings = check_int("num_embeddings", num_embeddings, minimum=0)
        padding_size = check_int("padding_size", padding_size, minimum=1)
        tp_size = check_int("tp_size", tp_size, minimum=1)
        if org_num_embeddings is None:
            org_vocab_size = num_embeddings
        else:
            org_vocab_size = check_int("org_num_embeddings", org_num_embeddings, minimum=1)
            if org_vocab_size > num_embeddings:
                raise ValueError(f"org_num_embeddings={org_vocab_size} exceeds "
                                 f"num_embeddings={num_embeddings}")
        org_padded = pad_vocab_size(org_vocab_size, padding_size)
        total_padded = pad_vocab_size(org_padded + num_embeddings - org_vocab_size, padding_size)
        for what, size in (("padded base vocab", org_padded), ("padded vocab", total_padded)):
            if size % tp_size:
                raise ValueError(
                    f"the {what} size {size} (padding_size={padding_size}) is not divisible by "
                    f"tp_size={tp_size}; choose a padding_size that is a multiple of tp_size")
        return cls(num_embeddings, org_vocab_size, padding_size, tp_size, org_padded,
                   total_padded)

    @property
    def num_added_embeddings(self) -> int:
        return self.num_embeddings - self.org_vocab_size

    @property
    def num_added_embeddings_padded(self) -> int:
        return self.num_embeddings_padded - self.org_vocab_size_padded

    @property
    def num_embeddings_per_partition(self) -> int:
        return self.num_embeddings_padded // self.tp_size

    def shard_indices(self, tp_rank: int) -> VocabParallelEmbeddingShardIndices:
        """Rank ``tp_rank``'s id ranges (S3.2)."""
        tp_rank, _ = check_rank(tp_rank, self.tp_size, rank_name="tp_rank", size_name="tp_size")
        org_start, org_end = vocab_range_from_global_vocab_size(
            self.org_vocab_size_padded, tp_rank, self.tp_size)
        added_start, added_end = vocab_range_from_global_vocab_size(
            self.num_added_embeddings_padded, tp_rank, self.tp_size, offset=self.org_vocab_size)
        return VocabParallelEmbeddingShardIndices(
            padded_org_vocab_start_index=org_start,
            padded_org_vocab_end_index=org_end,
            padded_added_vocab_start_index=added_start,
            padded_added_vocab_end_index=added_end,
            org_vocab_start_index=min(org_start, self.org_vocab_size),
            org_vocab_end_index=min(org_end, self.org_vocab_size),
            added_vocab_start_index=min(added_start, self.num_embeddings),
            added_vocab_end_index=min(added_end, self.num_embeddings),
        )

    def sharded_to_full_mapping(self) -> list[int]:
        """Positions in the rank-order concatenation of the local tables (S3.7).

        The list holds, for every rank in order, the positions of its base rows; then,
        for every rank, the positions of its added rows; then every padding position
        (base padding and added padding of each rank, rank by rank). Reindexing the
        gathered tables (or logits) with it puts row ``t`` at position ``t`` for every
        real id ``t``, padding rows after them.
        """
        base: list[int] = []
        added: list[int] = []
        padding: list[int] = []
        rows = self.num_embeddings_per_partition
        for rank in range(self.tp_size):
            s = self.shard_indices(rank)
            first = rank * rows
            added_first = first + s.num_org_elements_padded
            base.extend(range(first, first + s.num_org_elements))
            padding.extend(range(first + s.num_org_elements, added_first))
            added.extend(range(added_first, added_first + s.num_added_elements))
            padding.extend(range(added_first + s.num_added_elements, first + rows))
        return base + added + padding


def get_masked_input_and_mask(
    input_: torch.Tensor,
    org_vocab_start_index: int,
    org_vocab_end_index: int,
    num_org_vocab_padding: int,
    added_vocab_start_index: int,
    added_vocab_end_index: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One rank's local rows for ``input_`` and the mask of ids it does not own (S3.4).

    A base id ``t`` in ``[org_vocab_start_index, org_vocab_end_index)`` maps to local row
    ``t - org_vocab_start_index``; an added id ``t`` in
    ``[added_vocab_start_index, added_vocab_end_index)`` maps to
    ``t - added_vocab_start_index + num_org_elements + num_org_vocab_padding`` (the
    first local added row); any other id maps to row 0 and is flagged.

    Returns ``(masked_input, mask)``: ``masked_input`` has ``input_``'s shape, dtype and
    device; ``mask`` is a bool tensor of the same shape, True where the id is *not*
    owned by this rank ("not mine"). ``TypeError`` unless ``input_`` is an int32/int64
    tensor (S0.2); ``ValueError`` for a negative index, a start after its end, or
    negative padding.
    """
    check_index_dtype(input_, "input_")
    org_start = check_int("org_vocab_start_index", org_vocab_start_index, minimum=0)
    org_end = check_int("org_vocab_end_index", org_vocab_end_index, minimum=org_start)
    padding = check_int("num_org_vocab_padding", num_org_vocab_padding, minimum=0)
    added_start = check_int("added_vocab_start_index", added_vocab_start_index, minimum=0)
    added_end = check_int("added_vocab_end_index", added_vocab_end_index, minimum=added_start)
    is_org = (input_ >= org_start) & (input_ < org_end)
    is_added = (input_ >= added_start) & (input_ < added_end)
    added_row0 = (org_end - org_start) + padding
    masked = torch.where(is_org, input_ - org_start,
                         torch.where(is_added, input_ - added_start + added_row0,
                                     torch.zeros_like(input_)))
    return masked, ~(is_org | is_added)
