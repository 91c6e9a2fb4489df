"""The native backend: every single-process family on compiled ``torch.library`` operators.

CPU kernels are C++ (``csrc/``, ``at::parallel_for``), compiled on first use and cached
(:mod:`.build`); CUDA kernels (``cuda/``) are a separate library behind a C ABI, used
when a GPU is present (:mod:`.cuda`). Layers are the eager backend's, with their
forwards on the native operators (:mod:`.layers`). Every backward is deterministic:
each gradient row is summed in input order from a counting sort of the ids, and the
layer-norm parameters' gradients are reduced over fixed-size chunks in a fixed order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import torch
from embedspec.backends.contract import Availability, Capabilities
from embedspec.backends.eager.backend import EagerBackend, capability_table
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    LayerConfig,
    ShardedConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)
from torch import nn

from . import library
from .build import NativeBuildError
from .kernels import NativeKernels
from .layers import (
    NativeBinaryEmbedding,
    NativeEmbedding,
    NativeShardedEmbedding,
    NativeStableEmbedding,
    NativeVocabParallelEmbedding,
)

#: The composability features the native layers do not have (docs/native.md):
#: ``forward_ad``: no operator has a forward-mode derivative (the lookup's C++ autograd
#: kernel refuses a tangent; the stable and binary operators' formulas, from
#: ``torch.library.register_autograd``, make ``jvp`` return zero tangents); ``vmap``: the
#: operators have no batching rules; ``double_backward``: the backward operators have no
#: autograd formulas of their own (the derivative of the backward comes out zero or
#: raises). ``compile`` and ``export`` are supported: every operator has a fake kernel and
#: no forward branches on tensor values.
UNSUPPORTED_FEATURES: tuple[str, ...] = ("forward_ad", "vmap", "double_backward")

NATIVE_LAYERS: Mapping[type[LayerConfig], Callable[..., nn.Module]] = {
    EmbeddingConfig: NativeEmbedding.from_config,
    StableEmbeddingConfig: NativeStableEmbedding.from_config,
    VocabParallelConfig: NativeVocabParallelEmbedding.from_config,
    ShardedConfig: NativeShardedEmbedding.from_config,
    BinaryConfig: NativeBinaryEmbedding.from_config,
}


class NativeBackend(EagerBackend):
    """C++ CPU kernels (and CUDA kernels with a GPU) for every single-process family."""

    name = "native"
    description = "compiled C++ CPU / CUDA kernels as torch.library operators (world size 1)"
    deterministic_backward = True
    layers: ClassVar[Mapping[type[LayerConfig], Callable[..., nn.Module]]] = NATIVE_LAYERS

    @property
    def version(self) -> str:
        return f"torch {torch.__version__}, {library.LIBRARY_NAME}"

    def availability(self) -> Availability:
        try:
            library.load()
        except NativeBuildError as exc:
            return Availability.no(f"the native kernels cannot be built here: {exc}")
        return Availability.yes()

    def capabilities(self) -> Capabilities:
        """Every single-process feature of every family but :data:`UNSUPPORTED_FEATURES`,
        every dtype on CPU; on CUDA the families whose CUDA kernels are loaded (none
        without a GPU)."""
        cpu = Capabilities.declare(capability_table(("cpu",), without=UNSUPPORTED_FEATURES))
        cuda = library.cuda_families()
        if not cuda:
            return cpu
        table = capability_table(("cuda",), without=UNSUPPORTED_FEATURES)
        return cpu | Capabilities.declare({family: table[family] for family in cuda})

    def kernels(self) -> NativeKernels:
        return NativeKernels()
