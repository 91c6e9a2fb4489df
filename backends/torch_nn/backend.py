"""The ``torch_nn`` backend: plain ``torch.nn.Embedding``, with no fixes.

It exists to measure upstream against the spec: every departure listed in
:mod:`embedspec.backends.torch_nn.divergences` must show in its report column, and
nothing else. It therefore adds no validation of its own and never converts an
error: bad indices, bad options and unsupported combinations behave exactly as
PyTorch makes them behave.

* ``embedding`` family: a ``torch.nn.Embedding`` built with the configuration's
  options, dtype and the context's device.
* ``stable`` family: :class:`BitsandbytesStableEmbedding`, the forward of bitsandbytes'
  ``StableEmbedding`` rebuilt from ``torch.nn.Embedding`` and ``torch.nn.LayerNorm``
  (lookup, cast to the global default dtype, layer norm, cast back to the weight
  dtype). bitsandbytes' broken ``device``/``dtype`` constructor arguments (F2.3) are
  not reproduced: the weight gets the configured dtype and device.

The configuration's ``init`` scheme is translated to ``torch.nn.init`` calls (the
module's own initialisation when the scheme is its native one), followed by zeroing
the padding row, as PyTorch and bitsandbytes do; named schemes leave empty tables
untouched.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from embedspec.backends.contract import Availability, Backend, BuildContext, Capabilities
from embedspec.backends.divergences import Divergence
from embedspec.backends.torch_nn.divergences import DIVERGENCES
from embedspec.reference.configs import (
    EmbeddingConfig,
    InitScheme,
    LayerConfig,
    StableEmbeddingConfig,
)
from torch import nn

#: ``torch.nn.init`` equivalents of the spec's named schemes (S1.7), for non-empty tables.
TORCH_INITS = {
    "normal": lambda weight: nn.init.normal_(weight, 0.0, 1.0),
    "xavier_uniform": nn.init.xavier_uniform_,
    "scaled_normal": lambda weight: nn.init.normal_(weight, 0.0, 1.0 / math.sqrt(weight.shape[1])),
}


def initialise_(layer: nn.Embedding, init: InitScheme, native: str) -> None:
    """Re-initialise ``layer.weight`` by ``init`` unless it is the layer's ``native`` scheme
    (already applied by its constructor), then zero the padding row.

    ``ValueError`` for a name that is not a scheme: the configuration cannot be
    translated to ``torch.nn`` at all.
    """
    if init == native:
        return
    if isinstance(init, str):
        if init not in TORCH_INITS:
            known = ", ".join(sorted(TORCH_INITS))
            raise ValueError(f"init must be one of {known} or a callable, got {init!r}")
        fill = TORCH_INITS[init]
    elif callable(init):
        fill = init
    else:
        raise ValueError(f"init must be a scheme name or a callable, got {init!r}")
    with torch.no_grad():
        if not isinstance(init, str) or layer.weight.numel() > 0:
            fill(layer.weight)
        if layer.padding_idx is not None:
            layer.weight[layer.padding_idx].fill_(0)


class BitsandbytesStableEmbedding(nn.Embedding):
    """bitsandbytes ``StableEmbedding``'s computation on ``torch.nn`` parts.

    Xavier-uniform init with the padding row zeroed; ``norm`` is ``nn.LayerNorm(D)`` in
    the global default dtype. Forward: ``F.embedding`` with every option, cast to
    ``torch.get_default_dtype()``, ``norm``, cast back to the weight's dtype. State dict:
    ``weight``, ``norm.weight``, ``norm.bias``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False, *,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                         scale_grad_by_freq, sparse, device=device, dtype=dtype)
        self.norm = nn.LayerNorm(embedding_dim, device=device)

    def reset_parameters(self) -> None:
        if self.weight.numel() > 0:
            nn.init.xavier_uniform_(self.weight)
        if self.padding_idx is not None:
            with torch.no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        rows = F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)
        return self.norm(rows.to(torch.get_default_dtype())).to(self.weight.dtype)


def build_embedding(config: EmbeddingConfig, device: torch.device,
                    cls: type[nn.Embedding] = nn.Embedding) -> nn.Embedding:
    """A ``cls`` (``torch.nn.Embedding`` or a subclass with its constructor) built with
    ``config``'s options, dtype and init scheme on ``device``."""
    layer = cls(config.num_embeddings, config.embedding_dim, config.padding_idx,
                config.max_norm, config.norm_type, config.scale_grad_by_freq,
                config.sparse, device=device, dtype=config.dtype)
    initialise_(layer, config.init, native="normal")
    return layer


def build_stable(config: StableEmbeddingConfig, device: torch.device,
                 cls: type[BitsandbytesStableEmbedding] = BitsandbytesStableEmbedding,
                 ) -> BitsandbytesStableEmbedding:
    """A ``cls`` (:class:`BitsandbytesStableEmbedding` or a subclass with its constructor)
    built with ``config``'s options, dtype and init scheme on ``device``."""
    layer = cls(
        config.num_embeddings, config.embedding_dim, config.padding_idx, config.max_norm,
        config.norm_type, config.scale_grad_by_freq, config.sparse,
        device=device, dtype=config.dtype)
    initialise_(layer, config.init, native="xavier_uniform")
    return layer


@functools.cache
def cpu_dtypes() -> tuple[str, ...]:
    """float32/float64, plus float16/bfloat16 where this torch's CPU embedding runs them."""
    supported = ["float32", "float64"]
    for name, dtype in (("float16", torch.float16), ("bfloat16", torch.bfloat16)):
        try:
            weight = torch.ones(3, 2, dtype=dtype, requires_grad=True)
            F.embedding(torch.tensor([0, 0, 2]), weight, max_norm=0.5,
                        scale_grad_by_freq=True).sum().backward()
        except RuntimeError:
            continue
        supported.append(name)
    return tuple(supported)


class TorchNNBackend(Backend):
    """Plain ``torch.nn.Embedding`` (and bitsandbytes' stable forward), CPU, no fixes."""

    name = "torch_nn"
    description = "plain torch.nn.Embedding with PyTorch's own behaviour (CPU), no fixes"
    #: The module classes :meth:`build` instantiates (subclasses keep the constructors).
    embedding_class: type[nn.Embedding] = nn.Embedding
    stable_class: type[BitsandbytesStableEmbedding] = BitsandbytesStableEmbedding

    def availability(self) -> Availability:
        return Availability.yes()

    def capabilities(self) -> Capabilities:
        row = {"features": "all", "dtypes": cpu_dtypes(), "devices": ["cpu"]}
        return Capabilities.declare({"embedding": row, "stable": row})

    def divergences(self) -> tuple[Divergence, ...]:
        """PyTorch's and bitsandbytes' documented departures from the spec."""
        return DIVERGENCES

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        if context.world_size != 1 or context.dp_size != 1:
            raise ValueError(f"backend {self.name!r} builds single-process layers, got "
                             f"world_size={context.world_size}, dp_size={context.dp_size}")
        if isinstance(config, EmbeddingConfig):
            return build_embedding(config, context.device, self.embedding_class)
        if isinstance(config, StableEmbeddingConfig):
            return build_stable(config, context.device, self.stable_class)
        raise ValueError(f"backend {self.name!r} builds the embedding and stable families, "
                         f"not {type(config).__name__}")
