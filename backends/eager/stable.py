"""The ``stable`` family in eager PyTorch (spec section 2): bitsandbytes ``StableEmbedding``.

A section-1 lookup (every option, the ``max_norm`` renorm included) followed by a
fused ``F.layer_norm`` over the embedding dimension (eps ``1e-5``, affine, weight 1 and
bias 0 at construction). The norm runs in float32, or float64 for float64 weights,
whatever the global default dtype, and the result is cast back to the weight's dtype.
The LayerNorm parameters are stored in that compute dtype. Padding positions output
the LayerNorm bias and send gradient into the LayerNorm parameters (F2.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from embedspec.reference.configs import InitScheme, StableEmbeddingConfig
from torch import nn

from .embedding import EagerEmbedding, embed

#: The LayerNorm epsilon of the stable family (S2).
LAYER_NORM_EPS = 1e-5


def norm_dtype(weight_dtype: torch.dtype) -> torch.dtype:
    """The dtype the LayerNorm computes and stores its parameters in: float64 for
    float64 weights, float32 for every other weight dtype (S2)."""
    return torch.float64 if weight_dtype == torch.float64 else torch.float32


class EagerStableEmbedding(EagerEmbedding):
    """An :class:`~.embedding.EagerEmbedding` (Xavier-uniform by default) whose rows go
    through ``norm``, an ``nn.LayerNorm(D, eps=1e-5)`` in :func:`norm_dtype`.

    State dict keys: ``weight``, ``norm.weight``, ``norm.bias``. ``reset_parameters``
    re-initialises the table only, as bitsandbytes does (the norm resets through its own).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 init: InitScheme = "xavier_uniform", dtype: torch.dtype | None = torch.float32,
                 *, device: torch.device | str | None = None) -> None:
        super().__init__(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                         scale_grad_by_freq, sparse, init, dtype, device=device)
        self.norm = nn.LayerNorm(self.embedding_dim, eps=LAYER_NORM_EPS,
                                 device=self.weight.device, dtype=norm_dtype(self.weight.dtype))

    @classmethod
    def from_config(cls, config: StableEmbeddingConfig, *,
                    device: torch.device | str | None = None) -> EagerStableEmbedding:
        return cls(**config.as_kwargs(), device=device)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        rows = embed(input, self.weight, self.options)
        compute = self.norm.weight.dtype
        normed = F.layer_norm(rows.to(compute), (self.embedding_dim,), self.norm.weight,
                              self.norm.bias, self.norm.eps)
        return normed.to(self.weight.dtype)
