"""The embedding family (spec section 1): ``torch.nn.Embedding``, bitsandbytes
``Embedding`` and fairseq2 ``StandardEmbedding`` as one layer.

The functional core (:func:`embedding`, :func:`renorm_`, :func:`lookup`) lives in
:mod:`.embedding_functional` and is re-exported here; this module adds the layer
:class:`Embedding` and fairseq2's :func:`init_scaled_embedding`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import nn

from .configs import EmbeddingConfig
from .embedding_functional import (
    RENORM_EPS,
    dense_weight_grad,
    embedding,
    lookup,
    renorm_,
    sparse_weight_grad,
)
from .init import check_init_scheme, init_weight_
from .validation import (
    check_device,
    check_float_dtype,
    check_int,
    check_max_norm,
    check_sparse_options,
    check_weight,
    normalize_padding_idx,
)

__all__ = [
    "RENORM_EPS",
    "Embedding",
    "dense_weight_grad",
    "embedding",
    "init_scaled_embedding",
    "lookup",
    "renorm_",
    "sparse_weight_grad",
]

OPTIMIZER_OVERRIDES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {"weight": MappingProxyType({"optim_bits": 32})}
)
"""bitsandbytes' declared optimizer-state hint (F1.8): parameter name -> override.

bitsandbytes registers an embedding weight for 32-bit optimizer state even inside its
8-bit optimizers; embedspec states the same thing as data on the layer class instead of
registering it with a global manager.
"""


class Embedding(nn.Module):
    """A lookup table of ``num_embeddings`` rows of size ``embedding_dim`` (spec section 1).

    Arguments (``torch.nn.Embedding``'s, plus ``init``):

    * ``num_embeddings`` ``V`` and ``embedding_dim`` ``D``: integers ``>= 0`` (0 is legal).
    * ``padding_idx``: None or an integer in ``[-V, V-1]``, stored as ``V + p`` when
      negative (S1.1). The padding row gets an exactly zero gradient; the forward returns
      whatever it holds.
    * ``max_norm``, ``norm_type``: in-place renormalisation of the referenced rows before
      each lookup (S1.2, :func:`renorm_`).
    * ``scale_grad_by_freq``, ``sparse``: gradient options (S1.3, S1.4); not both.
    * ``_weight``: a ``(V, D)`` floating tensor used as is (shared storage, no init, no
      padding zeroing, F1.6); ``_freeze`` makes it non-trainable. ``dtype``/``device``,
      when given with ``_weight``, must match it.
    * ``device``, ``dtype``: where and in which floating dtype to allocate the weight
      (``dtype=None``: the global default dtype).
    * ``init`` (keyword): the initialisation scheme, a name of
      :data:`embedspec.reference.init.INIT_SCHEMES` or a callable on the weight; the
      padding row is zeroed afterwards in every case (S1.7). Default ``"normal"``.

    Every argument is validated before anything is allocated (``ValueError`` naming the
    argument, S0.5). Forward: :func:`embedding` with the layer's options.

    ``optimizer_overrides`` (class attribute) declares bitsandbytes' hint that the weight
    keeps 32-bit optimizer state (F1.8): ``{"weight": {"optim_bits": 32}}``.
    """

    optimizer_overrides: ClassVar[Mapping[str, Mapping[str, Any]]] = OPTIMIZER_OVERRIDES
    default_init: ClassVar[str] = "normal"

    num_embeddings: int
    embedding_dim: int
    padding_idx: int | None
    max_norm: float | None
    norm_type: float
    scale_grad_by_freq: bool
    sparse: bool
    weight: nn.Parameter

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: torch.Tensor | None = None,
        _freeze: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        init: str | Callable[[torch.Tensor], Any] = "normal",
    ) -> None:
        super().__init__()
        num_embeddings = check_int("num_embeddings", num_embeddings, minimum=0)
        embedding_dim = check_int("embedding_dim", embedding_dim, minimum=0)
        padding_idx = normalize_padding_idx(padding_idx, num_embeddings)
        max_norm, norm_type = check_max_norm(max_norm, norm_type)
        sparse, scale_grad_by_freq = check_sparse_options(sparse, scale_grad_by_freq)
        if not isinstance(_freeze, bool):
            raise ValueError(f"_freeze must be a bool, got {_freeze!r}")
        dtype = check_float_dtype("dtype", dtype)
        device = check_device(device)
        self.init = check_init_scheme(init)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            weight = torch.empty(num_embeddings, embedding_dim, device=device,
                                 dtype=dtype or torch.get_default_dtype())
            self.weight = nn.Parameter(weight, requires_grad=not _freeze)
            self.reset_parameters()
        else:
            check_pretrained(_weight, num_embeddings, embedding_dim, device=device, dtype=dtype)
            self.weight = nn.Parameter(_weight, requires_grad=not _freeze)

    @classmethod
    def from_config(cls, config: EmbeddingConfig, *,
                    device: torch.device | str | None = None) -> Embedding:
        """Build the layer an :class:`EmbeddingConfig` describes, on ``device``."""
        if not isinstance(config, EmbeddingConfig):
            raise TypeError(f"config must be an EmbeddingConfig, got {type(config).__name__}")
        return cls(**config.as_kwargs(), device=device)

    @classmethod
    def from_pretrained(cls, embeddings: torch.Tensor, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """A layer whose weight is ``embeddings`` itself (shared storage, F1.6).

        Frozen unless ``freeze=False``; the padding row is not zeroed.
        """
        check_weight(embeddings, "embeddings")
        if not isinstance(freeze, bool):
            raise ValueError(f"freeze must be a bool, got {freeze!r}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=embeddings,
                   _freeze=freeze)

    def reset_parameters(self) -> None:
        """Re-initialise the weight by the layer's ``init`` scheme, padding row zeroed (S1.7)."""
        init_weight_(self.weight, self.init, padding_idx=self.padding_idx)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        parts = [f"{self.num_embeddings}", f"{self.embedding_dim}"]
        if self.padding_idx is not None:
            parts.append(f"padding_idx={self.padding_idx}")
        if self.max_norm is not None:
            parts.append(f"max_norm={self.max_norm}")
        if self.norm_type != 2.0:
            parts.append(f"norm_type={self.norm_type}")
        if self.scale_grad_by_freq:
            parts.append("scale_grad_by_freq=True")
        if self.sparse:
            parts.append("sparse=True")
        if self.init != self.default_init:
            parts.append(f"init={self.init if isinstance(self.init, str) else 'custom'}")
        return ", ".join(parts)


def init_scaled_embedding(embed: nn.Module) -> None:
    """fairseq2's ``init_scaled_embedding``: weight from N(0, 1/D), padding row zeroed (S1.7).

    ``embed`` is any layer with a ``(V, D)`` ``weight`` and a ``padding_idx`` attribute
    (None for no padding row); an :class:`Embedding` built with ``init="scaled_normal"``
    is initialised the same way.
    """
    weight = getattr(embed, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"embed must be a layer with a weight tensor, got {type(embed).__name__}")
    init_weight_(weight, "scaled_normal", padding_idx=getattr(embed, "padding_idx", None))


def check_pretrained(weight: object, num_embeddings: int, embedding_dim: int, *,
                     device: torch.device | None = None,
                     dtype: torch.dtype | None = None, name: str = "_weight") -> torch.Tensor:
    """A pretrained table must be a floating ``(V, D)`` tensor matching any given dtype/device."""
    weight = check_weight(weight, name)
    if tuple(weight.shape) != (num_embeddings, embedding_dim):
        raise ValueError(f"{name} must have shape ({num_embeddings}, {embedding_dim}) "
                         f"= (num_embeddings, embedding_dim), got {tuple(weight.shape)}")
    if dtype is not None and weight.dtype != dtype:
        raise ValueError(f"dtype={dtype} does not match {name}.dtype={weight.dtype}")
    if device is not None and not _same_device(device, weight.device):
        raise ValueError(f"device={device} does not match {name}.device={weight.device}")
    return weight


def _same_device(requested: torch.device, actual: torch.device) -> bool:
    if requested.type != actual.type:
        return False
    return requested.index is None or requested.index == actual.index
