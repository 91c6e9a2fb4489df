"""Weight initialisation schemes (spec S1.7).

An initialisation is a *scheme*: one of the names in :data:`INIT_SCHEMES` or a user
callable. Whatever the scheme, the padding row (if any) is zeroed afterwards, a user
callable included (as fairseq2 does after its ``init_fn``).

Named schemes, for a weight of shape ``(V, D)``:

* ``"normal"``: every element from N(0, 1) (PyTorch ``nn.Embedding``, fairseq2 default).
* ``"xavier_uniform"``: every element from U(-b, b) with ``b = sqrt(6 / (V + D))``
  (bitsandbytes ``Embedding`` and ``StableEmbedding``; ``torch.nn.init.xavier_uniform_``).
* ``"scaled_normal"``: every element from N(0, 1/D) (fairseq2 ``init_scaled_embedding``).

A table with no elements (``V = 0`` or ``D = 0``) is left as it is by every named
scheme. Conformance of an init is statistical (moments, bounds, goodness of fit) plus
the exact zero padding row; the named schemes draw from the global torch RNG unless a
``generator`` is given, and the ``"normal"`` and ``"xavier_uniform"`` draws are the
same as PyTorch's for the same RNG state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import torch

from .validation import normalize_padding_idx

InitFunction = Callable[[torch.Tensor, "torch.Generator | None"], None]


def _normal(weight: torch.Tensor, generator: torch.Generator | None) -> None:
    weight.normal_(0.0, 1.0, generator=generator)


def _xavier_uniform(weight: torch.Tensor, generator: torch.Generator | None) -> None:
    torch.nn.init.xavier_uniform_(weight, generator=generator)


def _scaled_normal(weight: torch.Tensor, generator: torch.Generator | None) -> None:
    weight.normal_(0.0, weight.shape[1] ** -0.5, generator=generator)


INIT_SCHEMES: Mapping[str, InitFunction] = MappingProxyType({
    "normal": _normal,
    "xavier_uniform": _xavier_uniform,
    "scaled_normal": _scaled_normal,
})
"""The named schemes: name -> ``fill(weight, generator)`` (in place, no padding handling)."""


def check_init_scheme(scheme: object, name: str = "init") -> str | Callable[[torch.Tensor], Any]:
    """Return ``scheme`` if it is a known scheme name or a callable, else ``ValueError``."""
    if isinstance(scheme, str):
        if scheme not in INIT_SCHEMES:
            known = ", ".join(sorted(INIT_SCHEMES))
            raise ValueError(f"{name} must be one of {known} or a callable, got {scheme!r}")
        return scheme
    if callable(scheme):
        return scheme
    raise ValueError(f"{name} must be a scheme name or a callable, got {scheme!r}")


def init_bound(scheme: str, num_embeddings: int, embedding_dim: int) -> float:
    """The standard deviation (normal schemes) or bound (uniform scheme) of a named scheme."""
    check_init_scheme(scheme)
    if scheme == "normal":
        return 1.0
    if scheme == "scaled_normal":
        return embedding_dim ** -0.5
    return math.sqrt(6.0 / (num_embeddings + embedding_dim))


def init_weight_(
    weight: torch.Tensor,
    scheme: str | Callable[[torch.Tensor], Any],
    *,
    padding_idx: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Initialise a ``(V, D)`` table in place by ``scheme``, then zero its padding row (S1.7).

    ``scheme`` is a name of :data:`INIT_SCHEMES` or a callable taking the weight and
    filling it in place (its return value is ignored; it runs under ``torch.no_grad``).
    ``padding_idx`` may be negative (``[-V, V-1]``, S1.1). ``generator`` feeds the
    named schemes only. Everything is validated before the weight is touched
    (``ValueError`` for an unknown scheme or a bad ``padding_idx``, S0.4/S0.5).
    Returns ``weight``.
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise ValueError(f"weight must be a 2-D tensor (V, D), got {_describe(weight)}")
    if not weight.is_floating_point():
        raise ValueError(f"weight must be floating point, got {weight.dtype}")
    scheme = check_init_scheme(scheme, "scheme")
    padding_idx = normalize_padding_idx(padding_idx, weight.shape[0])
    with torch.no_grad():
        if isinstance(scheme, str):
            if weight.numel() > 0:
                INIT_SCHEMES[scheme](weight, generator)
        else:
            scheme(weight)
        if padding_idx is not None:
            weight[padding_idx].zero_()
    return weight


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return type(value).__name__
