"""The process groups of a :class:`~embedspec.conformance.checks.case.World`, seen from one worker.

A world of ``size`` model-parallel ranks times ``dp_size`` replicas runs on
processes ``0 .. size * dp_size - 1`` of the worker group, process
``proc = dp_rank * size + rank`` (``case.World.coords``). Its groups:

* the model-parallel group of replica ``d``: processes ``d * size + r`` for every ``r``
  (a vocab-parallel layer's tensor-parallel group; a sharded layer's column shards);
* the data-parallel group of column shard ``r``: processes ``d * size + r`` for every
  ``d`` (the replicas of one shard; absent when ``dp_size == 1``).

Creating a group is collective over the *whole* worker group: every worker calls
:func:`world_groups` for every world, in the same order, even the workers that lie
outside that world (they get no groups and run nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from embedspec.backends.contract import BuildContext
from embedspec.conformance.checks.case import World


@dataclass(frozen=True)
class WorldGroups:
    """One worker's place in a world: coordinates and groups (None outside the world)."""

    world: World
    proc: int
    group: Any = None
    dp_group: Any = None

    @property
    def member(self) -> bool:
        return self.proc < self.world.nprocs

    def context(self, device: torch.device) -> BuildContext:
        """The :class:`BuildContext` of this worker's layer in the world."""
        if not self.member:
            raise ValueError(f"process {self.proc} lies outside world {self.world}")
        dp_rank, rank = self.world.coords(self.proc)
        return BuildContext(device=device, rank=rank, world_size=self.world.size,
                            group=self.group, dp_rank=dp_rank, dp_size=self.world.dp_size,
                            dp_group=self.dp_group)


def world_groups(world: World, proc: int, nprocs: int) -> WorldGroups:
    """Create (collectively, see the module docstring) the groups of ``world``."""
    if world.nprocs > nprocs:
        raise ValueError(f"world {world} needs {world.nprocs} processes; the worker group has "
                         f"{nprocs}")
    if world.dp_size == 1 and world.nprocs == nprocs:
        return WorldGroups(world, proc, group=dist.group.WORLD)
    group = dp_group = None
    for dp_rank in range(world.dp_size):
        members = [dp_rank * world.size + r for r in range(world.size)]
        created = dist.new_group(members)
        if proc in members:
            group = created
    if world.dp_size > 1:
        for rank in range(world.size):
            members = [d * world.size + rank for d in range(world.dp_size)]
            created = dist.new_group(members)
            if proc in members:
                dp_group = created
    return WorldGroups(world, proc, group=group, dp_group=dp_group)
