"""How the sharded family splits the embedding dimension over ranks (spec S4.1).

Two partitions of ``D = embedding_dim`` columns over ``P = world_size`` ranks:

* ``"balanced"`` (DistDL): rank i holds ``D div P`` columns, plus one if
  ``i < D mod P``; it starts at column ``(D div P) * i + min(i, D mod P)``. Any ``D >= 0``
  works; with ``D < P`` the last ranks hold no column.
* ``"even"`` (fairseq2): ``D`` must divide by ``P`` (``ValueError`` naming
  ``embedding_dim`` and ``partition`` otherwise); rank i holds columns
  ``[i * D/P, (i+1) * D/P)``. Where ``D`` divides, both partitions are the same.

Rank blocks are contiguous, in rank order, and cover ``[0, D)`` exactly once.
"""

from __future__ import annotations

from typing import get_args

from .configs import Partition
from .validation import check_int, check_rank

PARTITIONS: tuple[str, ...] = get_args(Partition)


def check_partition(partition: object, embedding_dim: int, world_size: int) -> str:
    """Return ``partition`` if it is a known partition that applies to ``(D, P)``.

    ``ValueError`` for an unknown name, and for ``"even"`` when ``embedding_dim`` does
    not divide by ``world_size``.
    """
    if partition not in PARTITIONS:
        raise ValueError(f"partition must be one of {', '.join(PARTITIONS)}, got {partition!r}")
    if partition == "even" and embedding_dim % world_size:
        raise ValueError(
            f"embedding_dim={embedding_dim} is not divisible by world_size={world_size}, which "
            f"partition='even' requires; use partition='balanced'")
    return str(partition)


def partition_sizes(embedding_dim: int, world_size: int, partition: str = "balanced") -> list[int]:
    """Columns held by each rank, in rank order (S4.1). They sum to ``embedding_dim``."""
    embedding_dim = check_int("embedding_dim", embedding_dim, minimum=0)
    world_size = check_int("world_size", world_size, minimum=1)
    check_partition(partition, embedding_dim, world_size)
    base, extra = divmod(embedding_dim, world_size)
    return [base + (1 if rank < extra else 0) for rank in range(world_size)]


def column_range(embedding_dim: int, rank: int, world_size: int,
                 partition: str = "balanced") -> tuple[int, int]:
    """The half-open columns ``[start, end)`` rank ``rank`` holds (S4.1)."""
    rank, world_size = check_rank(rank, world_size)
    sizes = partition_sizes(embedding_dim, world_size, partition)
    base, extra = divmod(embedding_dim, world_size)
    start = base * rank + min(rank, extra)
    return start, start + sizes[rank]
