"""The eager backend: every single-process family in idiomatic, vectorised PyTorch.

It runs wherever torch does, on CPU and (when present) CUDA, in world size 1 only:
the vocab-parallel and sharded families are built as their one-rank forms. It lends
its per-rank :class:`~.kernels.EagerKernels` to composite backends, which add the
collectives of larger worlds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from embedspec.backends.contract import (
    DTYPES,
    FEATURES,
    Availability,
    Backend,
    BuildContext,
    Capabilities,
    available_devices,
    single_process_features,
)
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    LayerConfig,
    ShardedConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)
from torch import nn

from .binary import EagerBinaryEmbedding
from .embedding import EagerEmbedding
from .kernels import EagerKernels
from .sharded import EagerShardedEmbedding
from .stable import EagerStableEmbedding
from .vocab_parallel import EagerVocabParallelEmbedding

#: The layer class built for each configuration type.
LAYERS: Mapping[type[LayerConfig], Callable[..., nn.Module]] = {
    EmbeddingConfig: EagerEmbedding.from_config,
    StableEmbeddingConfig: EagerStableEmbedding.from_config,
    VocabParallelConfig: EagerVocabParallelEmbedding.from_config,
    ShardedConfig: EagerShardedEmbedding.from_config,
    BinaryConfig: EagerBinaryEmbedding.from_config,
}


def capability_table(devices: tuple[str, ...], *,
                     without: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """The declaration fed to :meth:`Capabilities.declare`: every family, every feature
    that a single process can exercise except those named in ``without``, every dtype,
    on ``devices``."""
    return {
        family: {
            "features": [f for f in single_process_features(family) if f not in without],
            "dtypes": list(DTYPES),
            "devices": list(devices),
        }
        for family in FEATURES
    }


class EagerBackend(Backend):
    """Single-process PyTorch implementation of every family (world size 1)."""

    name = "eager"
    description = "vectorised PyTorch, every family in one process (world size 1)"
    #: The layer factory of each configuration type (a subclass may substitute its own).
    layers: ClassVar[Mapping[type[LayerConfig], Callable[..., nn.Module]]] = LAYERS

    def availability(self) -> Availability:
        return Availability.yes()

    def capabilities(self) -> Capabilities:
        return Capabilities.declare(capability_table(available_devices()))

    def kernels(self) -> EagerKernels:
        return EagerKernels()

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        """The eager layer for ``config`` on ``context.device``.

        ``TypeError`` for an object that is not a known layer configuration;
        ``ValueError`` for a context with more than one rank or replica (the eager
        backend is single-process) and for a bad configuration (S0.5).
        """
        factory = self.layers.get(type(config))
        if factory is None:
            known = ", ".join(cls.__name__ for cls in self.layers)
            raise TypeError(f"config must be one of {known}, got {type(config).__name__}")
        if context.world_size != 1 or context.dp_size != 1:
            raise ValueError(
                f"the {self.name} backend is single-process: it builds world_size=1, dp_size=1 "
                f"layers, got world_size={context.world_size}, dp_size={context.dp_size}; "
                "use a distributed backend for larger worlds")
        return factory(config, device=context.device)
