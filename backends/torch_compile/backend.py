"""The ``torch_compile`` backend: ``torch.compile`` (inductor) of plain ``torch.nn.Embedding``.

What users pick instead of eager PyTorch, measured against the spec with no fixes, like
``torch_nn``: the layers are ``torch_nn``'s (same constructors, options, init schemes and
``from_pretrained``) with their forwards compiled by inductor, ``fullgraph=True``,
``dynamic=True``, each layer with its own Dynamo cache (:mod:`.compiled_forward`). Every
departure of compiled PyTorch from the spec is listed in :mod:`.divergences`.

It measures compiled code only: a forward that Dynamo would run eagerly, a layer whose
``state_dict`` keys are not the reference's, and Dynamo's recompile limit are errors
(:class:`~.compiled_forward.EagerFallbackError`, :class:`~.layers.StateKeysError`,
:class:`~.compiled_forward.RecompileLimitError`), never a silent eager column.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from embedspec.backends.contract import Availability, BuildContext, Capabilities
from embedspec.backends.divergences import Divergence
from embedspec.backends.torch_nn.backend import TorchNNBackend, cpu_dtypes
from embedspec.reference.configs import LayerConfig
from torch import nn

from .compiled_forward import compiler_missing
from .divergences import DIVERGENCES
from .layers import CompiledEmbedding, CompiledStableEmbedding, check_state_keys

#: The features declared per family, listed one by one so that features added to the
#: contract later are declared deliberately. The composability features (``compile``,
#: ``export``, ``forward_ad``, ``vmap``, ``double_backward``) are not declared: their
#: tests apply a program transform to the layer, and here the layer's forward is itself
#: a compiled program, so they would measure Dynamo nesting inside a transform (export
#: of a compiled function, jvp and vmap through an inductor graph), not the compiled
#: lookup this column reports; plain PyTorch's answers to them are the ``torch_nn``
#: column's.
DECLARED_FEATURES: Mapping[str, tuple[str, ...]] = {
    "embedding": ("forward", "padding_idx", "max_norm", "scale_grad_by_freq", "sparse",
                  "backward", "init", "errors", "determinism"),
    "stable": ("forward", "padding_idx", "max_norm", "backward", "init", "errors"),
}


class TorchCompileBackend(TorchNNBackend):
    """``torch.nn.Embedding`` (and bitsandbytes' stable forward) compiled by inductor, CPU."""

    name = "torch_compile"
    description = ("torch.compile (inductor, fullgraph) of plain torch.nn.Embedding (CPU), "
                   "no fixes; never falls back to eager")
    opt_in_reason = ("opt-in (--include torch_compile): inductor compiles every drawn "
                     "layer, so its column takes over 20 minutes on the default profile")
    embedding_class = CompiledEmbedding
    stable_class = CompiledStableEmbedding

    @property
    def version(self) -> str:
        return f"torch {torch.__version__}, inductor"

    def availability(self) -> Availability:
        missing = compiler_missing()
        return Availability.no(missing) if missing else Availability.yes()

    def capabilities(self) -> Capabilities:
        return Capabilities.declare({
            family: {"features": features, "dtypes": cpu_dtypes(), "devices": ["cpu"]}
            for family, features in DECLARED_FEATURES.items()})

    def divergences(self) -> tuple[Divergence, ...]:
        """Compiled PyTorch's documented departures from the spec."""
        return DIVERGENCES

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        """``torch_nn``'s layer for ``config`` with a compiled forward; ``StateKeysError``
        if its ``state_dict`` keys are not the upstream module's."""
        layer = super().build(config, context)
        upstream = (TorchNNBackend.embedding_class if config.family == "embedding"
                    else TorchNNBackend.stable_class)
        check_state_keys(layer, upstream)
        return layer
