"""The ``reference`` backend: the reference layers themselves behind the backend contract.

It builds, for every family, the layer of :mod:`embedspec.reference` that defines it,
so the conformance suite can run against the spec itself (every check must pass) and
the report has a column that is right by definition.

It runs in one process. Multi-rank families (``vocab_parallel``, ``sharded``) are built
at world size 1 with no collectives; a rank of a larger world needs a
:class:`~embedspec.reference.Collectives` for its process group, which a
caller supplies through ``collectives_factory``. Data-parallel replicas
(``dp_size > 1``) are not built here.
"""

from __future__ import annotations

from collections.abc import Callable

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
from embedspec.reference import (
    BinaryEmbedding,
    Collectives,
    Embedding,
    ShardedEmbedding,
    StableEmbedding,
    VocabParallelEmbedding,
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

CollectivesFactory = Callable[[BuildContext], Collectives]

#: Families whose layer is one rank of a model-parallel world.
_MULTI_RANK = {VocabParallelConfig: VocabParallelEmbedding, ShardedConfig: ShardedEmbedding}
#: Families whose layer is a single-process module.
_SINGLE = {EmbeddingConfig: Embedding, StableEmbeddingConfig: StableEmbedding,
           BinaryConfig: BinaryEmbedding}


class ReferenceBackend(Backend):
    """Every family, every feature, float32/float64/float16/bfloat16, on cpu (and cuda).

    ``collectives_factory(context)`` gives the collectives of a rank in a world of more
    than one; without it such a build is a ``ValueError``.
    """

    name = "reference"
    description = "the reference implementation (embedspec.reference) itself"

    def __init__(self, collectives_factory: CollectivesFactory | None = None) -> None:
        self.collectives_factory = collectives_factory

    def availability(self) -> Availability:
        return Availability.yes()

    def capabilities(self) -> Capabilities:
        return Capabilities.declare({
            family: {"features": single_process_features(family), "dtypes": list(DTYPES),
                     "devices": available_devices()}
            for family in FEATURES
        })

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        if context.dp_size != 1:
            raise ValueError(f"backend 'reference' does not build data-parallel replicas, "
                             f"got dp_size={context.dp_size}")
        config_type = type(config)
        if config_type in _SINGLE:
            if context.world_size != 1:
                raise ValueError(f"the {config.family!r} family is single-process, got "
                                 f"world_size={context.world_size}")
            return _SINGLE[config_type].from_config(config, device=context.device)
        if config_type in _MULTI_RANK:
            return _MULTI_RANK[config_type].from_config(
                config, rank=context.rank, world_size=context.world_size,
                device=context.device, collectives=self._collectives(context))
        raise ValueError(f"backend 'reference' has no family for {config_type.__name__}")

    def _collectives(self, context: BuildContext) -> Collectives | None:
        if context.world_size == 1:
            return None
        if self.collectives_factory is None:
            raise ValueError(
                f"backend 'reference' runs in one process: rank {context.rank} of a world of "
                f"{context.world_size} needs a collectives_factory")
        return self.collectives_factory(context)
