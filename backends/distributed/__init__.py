"""The ``distributed`` backend: multi-process layers on ``torch.distributed``."""

from embedspec.backends.distributed.backend import DistributedBackend
from embedspec.backends.distributed.collectives import ProcessGroupCollectives
from embedspec.backends.distributed.grid import ReplicaGroup

__all__ = ["DistributedBackend", "ProcessGroupCollectives", "ReplicaGroup"]
