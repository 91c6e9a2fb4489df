"""Layer configurations: the one description of a layer that the reference and every
backend build from.

A configuration holds what defines a layer's semantics and parameter layout
(sizes, options, dtype). Where a layer lives (device, rank, world size, process
group) is not configuration: backends receive it in a ``BuildContext`` and the
reference takes it as keyword arguments of ``from_config``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

InitScheme = str | Callable[[torch.Tensor], Any]
Partition = Literal["balanced", "even"]


@dataclass(frozen=True)
class LayerConfig:
    """Base of every family's configuration."""

    family: ClassVar[str]

    def as_kwargs(self) -> dict[str, Any]:
        """The configuration as keyword arguments of the family's reference constructor."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> LayerConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class EmbeddingConfig(LayerConfig):
    """``torch.nn.Embedding`` semantics (spec section 1)."""

    family: ClassVar[str] = "embedding"
    num_embeddings: int
    embedding_dim: int
    padding_idx: int | None = None
    max_norm: float | None = None
    norm_type: float = 2.0
    scale_grad_by_freq: bool = False
    sparse: bool = False
    init: InitScheme = "normal"
    dtype: torch.dtype = torch.float32


@dataclass(frozen=True)
class StableEmbeddingConfig(LayerConfig):
    """bitsandbytes ``StableEmbedding`` semantics (spec section 2)."""

    family: ClassVar[str] = "stable"
    num_embeddings: int
    embedding_dim: int
    padding_idx: int | None = None
    max_norm: float | None = None
    norm_type: float = 2.0
    scale_grad_by_freq: bool = False
    sparse: bool = False
    init: InitScheme = "xavier_uniform"
    dtype: torch.dtype = torch.float32


@dataclass(frozen=True)
class VocabParallelConfig(LayerConfig):
    """FastVideo/vLLM ``VocabParallelEmbedding`` semantics (spec section 3)."""

    family: ClassVar[str] = "vocab_parallel"
    num_embeddings: int
    embedding_dim: int
    org_num_embeddings: int | None = None
    padding_size: int = 64
    params_dtype: torch.dtype = torch.float32

    @property
    def dtype(self) -> torch.dtype:
        return self.params_dtype


@dataclass(frozen=True)
class ShardedConfig(LayerConfig):
    """Embedding-dimension sharding, fairseq2 and DistDL (spec section 4)."""

    family: ClassVar[str] = "sharded"
    num_embeddings: int
    embedding_dim: int
    padding_idx: int | None = None
    max_norm: float | None = None
    norm_type: float = 2.0
    scale_grad_by_freq: bool = False
    partition: Partition = "balanced"
    gather_output: bool = True
    init: InitScheme = "normal"
    dtype: torch.dtype = torch.float32


@dataclass(frozen=True)
class BinaryConfig(LayerConfig):
    """Bit-packed binary embedding (spec section 5)."""

    family: ClassVar[str] = "binary"
    num_embeddings: int
    embedding_dim: int
    padding_idx: int | None = None
    centre: bool = False
    dtype: torch.dtype = torch.float32


CONFIG_TYPES: dict[str, type[LayerConfig]] = {
    cls.family: cls
    for cls in (EmbeddingConfig, StableEmbeddingConfig, VocabParallelConfig, ShardedConfig,
                BinaryConfig)
}
FAMILIES: tuple[str, ...] = tuple(CONFIG_TYPES)
