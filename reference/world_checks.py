"""Checks shared by the multi-rank families (vocab-parallel, sharded)."""

from __future__ import annotations

from .collectives import Collectives


def check_collectives(collectives: object, rank: int, world_size: int) -> None:
    """``collectives`` is None or a :class:`Collectives` of the layer's rank and world size.

    ``ValueError`` otherwise (S0.5): a layer must never reduce over a world it is not
    part of.
    """
    if collectives is None:
        return
    if not isinstance(collectives, Collectives):
        raise ValueError(f"collectives must implement the Collectives protocol, "
                         f"got {type(collectives).__name__}")
    if (collectives.rank, collectives.world_size) != (rank, world_size):
        raise ValueError(f"collectives are rank {collectives.rank} of {collectives.world_size}, "
                         f"but the layer is rank {rank} of {world_size}")


