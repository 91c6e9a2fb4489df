"""The stable family (spec section 2): bitsandbytes ``StableEmbedding``.

An :class:`~embedspec.reference.embedding.Embedding` initialised Xavier-uniform, whose
looked-up rows go through a ``LayerNorm(D)`` (eps ``1e-5``, affine, weight 1 and bias
0 at init). The norm is computed in float32, or float64 for float64 weights, whatever
the global default dtype, and the result is cast back to the weight's dtype.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .configs import StableEmbeddingConfig
from .embedding import Embedding
from .embedding_functional import embedding
from .validation import (
    check_weight,
)

LAYER_NORM_EPS = 1e-5
"""The LayerNorm epsilon of the stable family (S2)."""


def norm_dtype(weight_dtype: torch.dtype) -> torch.dtype:
    """The dtype the LayerNorm computes and stores its parameters in (S2).

    float64 for float64 weights, float32 for every other weight dtype.
    """
    return torch.float64 if weight_dtype == torch.float64 else torch.float32


def stable_embedding(input: torch.Tensor, weight: torch.Tensor, norm_weight: torch.Tensor,
                     norm_bias: torch.Tensor, padding_idx: int | None = None,
                     max_norm: float | None = None, norm_type: float = 2.0,
                     scale_grad_by_freq: bool = False, sparse: bool = False,
                     eps: float = LAYER_NORM_EPS) -> torch.Tensor:
    """The functional stable embedding (S2).

    ``layer_norm(embedding(input, weight, ...).to(c), (D,), norm_weight.to(c),
    norm_bias.to(c), eps).to(weight.dtype)`` with ``c = norm_dtype(weight.dtype)``:
    the embedding step is :func:`embedding` with every section-1 option (including the
    in-place ``max_norm`` renorm), and the layer norm normalises each looked-up row by its
    mean and biased variance over the ``D`` elements.

    A zero row (the padding row after init) therefore outputs exactly ``norm_bias``
    (F2.2), and padding positions send gradient into ``norm_weight``/``norm_bias`` while
    the padding row of ``weight`` gets none. Output shape ``input.shape + (D,)``, dtype
    of ``weight``.

    Everything is validated before ``weight`` is touched (S0.4): the section-1 checks,
    plus ``norm_weight`` and ``norm_bias`` being floating tensors of shape ``(D,)`` and
    ``eps`` a positive finite number (``ValueError``).
    """
    check_weight(weight)
    dim = weight.shape[1]
    _check_norm_param("norm_weight", norm_weight, dim)
    _check_norm_param("norm_bias", norm_bias, dim)
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps < math.inf:
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    # embedding() validates the section-1 arguments before it renormalises anything.
    rows = embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)
    compute = norm_dtype(weight.dtype)
    normed = F.layer_norm(rows.to(compute), (dim,), norm_weight.to(compute),
                          norm_bias.to(compute), float(eps))
    return normed.to(weight.dtype)


class StableEmbedding(Embedding):
    """bitsandbytes ``StableEmbedding`` (spec section 2).

    Same arguments as bitsandbytes (``num_embeddings, embedding_dim, padding_idx,
    max_norm, norm_type, scale_grad_by_freq, sparse, _weight, device, dtype``), all with
    the meaning of :class:`Embedding` (section 1), plus the keyword ``init`` (default
    ``"xavier_uniform"``) and ``_freeze``. ``device`` and ``dtype`` are honoured for the
    weight (S2; bitsandbytes' F2.3 bug does not exist here).

    Submodule ``norm``: ``nn.LayerNorm(D, eps=1e-5)`` on ``device``, with weight 1 and bias
    0 at construction, stored in ``norm_dtype(weight dtype)`` (float32, or float64 for
    float64 weights). State dict keys: ``weight``, ``norm.weight``, ``norm.bias``.

    Forward: :func:`stable_embedding` with the layer's options. ``reset_parameters``
    re-initialises the embedding table only (the padding row zeroed), as bitsandbytes
    does; the norm resets through its own ``reset_parameters``.

    ``optimizer_overrides`` declares bitsandbytes' 32-bit optimizer-state hint for
    ``weight`` (F1.8): ``{"weight": {"optim_bits": 32}}``.
    """

    default_init: ClassVar[str] = "xavier_uniform"
    norm: nn.LayerNorm

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
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        _freeze: bool = False,
        init: str | Callable[[torch.Tensor], Any] = "xavier_uniform",
    ) -> None:
        super().__init__(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                         scale_grad_by_freq, sparse, _weight, _freeze, device, dtype, init=init)
        self.norm = nn.LayerNorm(self.embedding_dim, eps=LAYER_NORM_EPS,
                                 device=self.weight.device, dtype=norm_dtype(self.weight.dtype))

    @classmethod
    def from_config(cls, config: StableEmbeddingConfig, *,
                    device: torch.device | str | None = None) -> StableEmbedding:
        """Build the layer a :class:`StableEmbeddingConfig` describes, on ``device``."""
        if not isinstance(config, StableEmbeddingConfig):
            raise TypeError(
                f"config must be a StableEmbeddingConfig, got {type(config).__name__}")
        return cls(**config.as_kwargs(), device=device)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return stable_embedding(input, self.weight, self.norm.weight, self.norm.bias,
                                self.padding_idx, self.max_norm, self.norm_type,
                                self.scale_grad_by_freq, self.sparse, self.norm.eps)


def _check_norm_param(name: str, value: object, dim: int) -> None:
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor of shape ({dim},)")
    if tuple(value.shape) != (dim,):
        raise ValueError(f"{name} must have shape ({dim},), got {tuple(value.shape)}")
