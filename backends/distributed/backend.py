"""The ``distributed`` backend: vocab-parallel and sharded layers on ``torch.distributed``.

Each layer spans the processes of a process group (gloo on CPU, NCCL on CUDA). The
per-rank computation is borrowed from a compute backend's kernels
(:class:`~embedspec.backends.kernels.EmbeddingKernels`, the ``compute`` option, eager by
default), and this backend only adds what is distributed: collectives, the grid of
data-parallel replicas, and the cross-rank agreements that keep every rank in step.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.distributed as dist
from embedspec.backends.contract import Availability, Backend, BuildContext, Capabilities
from embedspec.backends.distributed.collectives import ProcessGroupCollectives
from embedspec.backends.distributed.grid import ReplicaGroup
from embedspec.backends.distributed.sharded import DistributedShardedEmbedding
from embedspec.backends.distributed.vocab_parallel import DistributedVocabParallelEmbedding
from embedspec.backends.kernels import EmbeddingKernels
from embedspec.reference import Collectives, LocalCollectives
from embedspec.reference.configs import LayerConfig, ShardedConfig, VocabParallelConfig

FAMILIES = ("vocab_parallel", "sharded")
DTYPES = ("float32", "float64")


class DistributedBackend(Backend):
    """Multi-process vocab-parallel and sharded layers.

    ``compute`` names (in the backend registry) the backend whose ``kernels()`` do each
    rank's local work. ``build`` takes the process groups from the
    :class:`~embedspec.backends.contract.BuildContext`: ``group`` (model-parallel,
    required when ``world_size > 1``) and ``dp_group`` (replicas of a sharded layer,
    required when ``dp_size > 1``). A world of one process needs no process group.
    """

    name = "distributed"
    description = "torch.distributed (gloo on CPU, NCCL on CUDA) over a compute backend's kernels"
    multi_process = True
    #: The layer classes ``build`` instantiates (a subclass may substitute its own).
    vocab_parallel_layer: ClassVar[type[DistributedVocabParallelEmbedding]] = \
        DistributedVocabParallelEmbedding
    sharded_layer: ClassVar[type[DistributedShardedEmbedding]] = DistributedShardedEmbedding

    def __init__(self, compute: str = "eager") -> None:
        if not isinstance(compute, str) or not compute:
            raise ValueError(f"compute must name a backend, got {compute!r}")
        self.compute = compute
        self._kernels: EmbeddingKernels | None = None

    @property
    def version(self) -> str:
        return f"torch {torch.__version__}, {self.compute} kernels"

    def kernels(self) -> EmbeddingKernels:
        """The compute backend's kernels (loaded on first use)."""
        if self._kernels is None:
            from embedspec.backends.registry import load_backend

            kernels = load_backend(self.compute).kernels()
            if not isinstance(kernels, EmbeddingKernels):
                raise ValueError(f"compute backend {self.compute!r} lends no EmbeddingKernels "
                                 "(its kernels() returned None or an incomplete object)")
            self._kernels = kernels
        return self._kernels

    def availability(self) -> Availability:
        if not dist.is_available():
            return Availability.no("this torch build has no torch.distributed")
        if not dist.is_gloo_available():
            return Availability.no("this torch build has no gloo process groups")
        try:
            self.kernels()
        except Exception as exc:
            return Availability.no(f"the compute backend {self.compute!r} cannot lend kernels: "
                                   f"{exc}")
        return Availability.yes()

    def capabilities(self) -> Capabilities:
        devices = ["cpu"]
        if torch.cuda.is_available() and dist.is_nccl_available():
            devices.append("cuda")
        return Capabilities.declare({
            family: {"features": "all", "dtypes": DTYPES, "devices": devices}
            for family in FAMILIES
        })

    def build(self, config: LayerConfig, context: BuildContext) -> torch.nn.Module:
        """Rank ``context.rank`` of the layer ``config`` describes, in ``context``'s groups."""
        placement = {"rank": context.rank, "world_size": context.world_size,
                     "device": context.device, "kernels": self.kernels(),
                     "collectives": _collectives(context)}
        if isinstance(config, VocabParallelConfig):
            if context.dp_size > 1:
                raise ValueError(f"dp_size must be 1 for the vocab_parallel family, which has "
                                 f"no data-parallel replicas in the spec; got {context.dp_size}")
            return self.vocab_parallel_layer(config, **placement)
        if isinstance(config, ShardedConfig):
            replicas = None
            if context.dp_size > 1:
                if context.dp_group is None:
                    raise ValueError(f"dp_group is required for dp_size={context.dp_size}")
                replicas = ReplicaGroup(context.dp_group, context.dp_rank, context.dp_size)
            return self.sharded_layer(config, replicas=replicas, **placement)
        family = getattr(config, "family", type(config).__name__)
        raise ValueError(f"the distributed backend builds the {' and '.join(FAMILIES)} families, "
                         f"not {family!r}")


def _collectives(context: BuildContext) -> Collectives:
    if context.group is None:
        if context.world_size > 1:
            raise ValueError(f"group is required for world_size={context.world_size}: a "
                             "torch.distributed process group of the model-parallel ranks")
        return LocalCollectives()
    return ProcessGroupCollectives(context.group, context.rank, context.world_size)
