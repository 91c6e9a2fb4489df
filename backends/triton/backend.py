"""The Triton backends: ``triton`` (atomic backward) and ``triton-deterministic``.

Both build every single-process family (world size 1, like the eager backend) from the
eager layers computing with Triton kernels (:mod:`.layers`). They run natively on CUDA
and, without a CUDA device, through Triton's interpreter on CPU tensors, which their
version string says (``"triton 3.9.0, cpu (interpreter)"``). They are unavailable, with
the reason, when triton is not installed.

``triton`` adds dense gradients with float32 atomics; ``triton-deterministic`` sorts the
ids and stores each gradient row once (bitwise reproducible, ``deterministic_backward``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from embedspec.backends.contract import Availability, Backend, BuildContext, Capabilities
from embedspec.backends.eager.backend import capability_table
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    LayerConfig,
    ShardedConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)
from torch import nn

from .runtime import check_kernels_follow_mode, runtime

#: The composability features the Triton layers do not have (docs/triton.md):
#: ``forward_ad``: the operators' autograd formulas (``register_autograd``) have no
#: forward-mode derivative (``jvp`` returns zero tangents); ``vmap``: the layers' Python
#: ``autograd.Function`` has no ``setup_context`` and the operators no batching rules;
#: ``double_backward``: the gradient operators have no autograd formulas of their own.
#: ``compile`` and ``export`` are supported: the operators have fake kernels.
UNSUPPORTED_FEATURES: tuple[str, ...] = ("forward_ad", "vmap", "double_backward")


def _layer_classes() -> Mapping[type[LayerConfig], Callable[..., nn.Module]]:
    from . import layers  # imports triton: only once runtime() has set the mode

    return {
        EmbeddingConfig: layers.TritonEmbedding,
        StableEmbeddingConfig: layers.TritonStableEmbedding,
        VocabParallelConfig: layers.TritonVocabParallelEmbedding,
        ShardedConfig: layers.TritonShardedEmbedding,
        BinaryConfig: layers.TritonBinaryEmbedding,
    }


class TritonBackend(Backend):
    """Triton kernels for every single-process family; dense backward by atomics."""

    name = "triton"
    description = "Triton kernels, every family in one process; float32-atomic backward"
    deterministic_backward = False

    @property
    def version(self) -> str:
        found = runtime()
        if not found.triton_version:
            return "triton not installed"
        return f"triton {found.triton_version}, {found.where}"

    def timing_caveat(self, device: str) -> str:
        """On CPU tensors the kernels run in Triton's interpreter, program by program in
        Python: their times measure the interpreter, not the kernels."""
        if device == "cpu":
            return ("on CPU tensors Triton runs its kernels in the interpreter, so their "
                    "times measure Python, not the kernels (time it with --device cuda)")
        return ""

    def availability(self) -> Availability:
        found = runtime()
        if found.reason:
            return Availability.no(found.reason)
        mismatch = check_kernels_follow_mode()
        return Availability.no(mismatch) if mismatch else Availability.yes()

    def capabilities(self) -> Capabilities:
        """Every single-process feature but :data:`UNSUPPORTED_FEATURES`, every dtype, on
        the runtime's device."""
        return Capabilities.declare(capability_table((runtime().device,),
                                                     without=UNSUPPORTED_FEATURES))

    def ops(self):
        """The operators this backend's layers compute with."""
        from .ops.bundle import TritonOps

        return TritonOps(deterministic=self.deterministic_backward)

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        """The Triton layer for ``config`` on ``context.device``: ``TypeError`` for an
        unknown configuration, ``ValueError`` for a multi-rank context or a bad
        configuration (S0.5)."""
        layer = _layer_classes().get(type(config))
        if layer is None:
            raise TypeError(f"config must be a layer configuration, got {type(config).__name__}")
        if context.world_size != 1 or context.dp_size != 1:
            raise ValueError(
                f"the {self.name} backend is single-process: it builds world_size=1, "
                f"dp_size=1 layers, got world_size={context.world_size}, "
                f"dp_size={context.dp_size}")
        return layer(**config.as_kwargs(), device=context.device, ops=self.ops())


class TritonDeterministicBackend(TritonBackend):
    """:class:`TritonBackend` whose dense backward is deterministic (sorted segments)."""

    name = "triton-deterministic"
    description = ("Triton kernels, every family in one process; deterministic backward "
                   "(sorted segments, one store per row)")
    deterministic_backward = True
