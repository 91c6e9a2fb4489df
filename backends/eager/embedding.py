"""The ``embedding`` family in eager PyTorch (spec section 1).

:class:`EagerEmbedding` has ``torch.nn.Embedding``'s semantics with the spec's fixes:
every argument is validated before any parameter is touched (S0.4), a bad index
dtype is a ``TypeError`` (S0.2), a bad configuration a ``ValueError`` naming the
argument (S0.5), ``sparse`` with ``scale_grad_by_freq`` is rejected at construction
(S1.4) and norms always use absolute values (S1.2).

The pieces shared with the other families live here too: :func:`embed` (validate,
renormalise, gather) and :func:`init_table_` (the named initialisation schemes, S1.7).
Validation comes from :mod:`embedspec.backends.support`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from embedspec.backends.support import (
    LookupOptions,
    check_bool,
    check_device,
    check_dtype,
    check_ids,
    check_init,
    check_pretrained,
    check_sizes,
    gather_checking_ids,
)
from embedspec.reference.configs import EmbeddingConfig, InitScheme
from torch import nn

from . import kernels

#: Named initialisation schemes (S1.7): name -> fill of a non-empty ``(V, D)`` table.
INIT_FILLS: dict[str, Callable[[torch.Tensor], Any]] = {
    "normal": lambda w: w.normal_(0.0, 1.0),
    "xavier_uniform": nn.init.xavier_uniform_,
    "scaled_normal": lambda w: w.normal_(0.0, w.shape[1] ** -0.5),
}


def init_table_(weight: torch.Tensor, init: InitScheme, padding_idx: int | None) -> torch.Tensor:
    """Fill ``weight`` by ``init`` (a checked scheme), then zero its padding row (S1.7).

    A table without elements is left as it is by the named schemes; a callable always
    runs. ``padding_idx`` is already normalised.
    """
    with torch.no_grad():
        if not isinstance(init, str):
            init(weight)
        elif weight.numel() > 0:
            INIT_FILLS[init](weight)
        if padding_idx is not None:
            weight[padding_idx].zero_()
    return weight


class OptionAttributes:
    """``padding_idx``, ``max_norm``, ``norm_type``, ``scale_grad_by_freq`` and ``sparse``
    as read-only attributes of a layer holding :class:`LookupOptions` in ``options``."""

    options: LookupOptions

    @property
    def padding_idx(self) -> int | None:
        return self.options.padding_idx

    @property
    def max_norm(self) -> float | None:
        return self.options.max_norm

    @property
    def norm_type(self) -> float:
        return self.options.norm_type

    @property
    def scale_grad_by_freq(self) -> bool:
        return self.options.scale_grad_by_freq

    @property
    def sparse(self) -> bool:
        return self.options.sparse


def embed(input: object, weight: torch.Tensor, options: LookupOptions) -> torch.Tensor:
    """Validate ``input`` (S0.2, S0.3), renormalise its rows if ``max_norm`` is set (S1.2),
    then gather with the spec's backward (S1.3-S1.5). Without ``max_norm`` nothing is
    written before the gather, so on the CPU the gather's own bounds check is the range
    check (:func:`~embedspec.backends.support.gather_checking_ids`)."""
    def gather(ids: torch.Tensor) -> torch.Tensor:
        return kernels.lookup(ids, weight, padding_idx=options.padding_idx,
                              scale_grad_by_freq=options.scale_grad_by_freq,
                              sparse=options.sparse)

    if options.max_norm is None:
        return gather_checking_ids(gather, input, weight)
    ids = check_ids(input, options.num_embeddings).to(weight.device)
    kernels.renorm_(weight, ids, options.max_norm, options.norm_type)
    return gather(ids)


def _keep(weight: torch.Tensor) -> None:
    """An init callable that leaves the table as it is (a table given to the layer)."""


class EagerEmbedding(OptionAttributes, nn.Module):
    """A lookup table with ``torch.nn.Embedding``'s options and the spec's semantics.

    State: ``weight`` of shape ``(num_embeddings, embedding_dim)`` and dtype ``dtype``
    (None: the default dtype), initialised by ``init`` (a name of :data:`INIT_FILLS` or
    a callable), padding row zeroed; :meth:`reset_parameters` does it again.
    ``optimizer_overrides`` declares bitsandbytes' 32-bit optimizer-state hint for
    ``weight`` (F1.8).
    """

    optimizer_overrides: ClassVar[Mapping[str, Mapping[str, Any]]] = MappingProxyType(
        {"weight": MappingProxyType({"optim_bits": 32})})
    #: The scheme a layer built without ``init`` draws by (and a pretrained one resets by).
    default_init: ClassVar[InitScheme] = "normal"

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 init: InitScheme = "normal", dtype: torch.dtype | None = torch.float32, *,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        num_embeddings, embedding_dim = check_sizes(num_embeddings, embedding_dim)
        self.options = LookupOptions.validate(num_embeddings, padding_idx, max_norm, norm_type,
                                              scale_grad_by_freq, sparse)
        self.init = check_init(init)
        dtype = check_dtype(dtype)
        device = check_device(device)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.weight = nn.Parameter(
            torch.empty(num_embeddings, embedding_dim, dtype=dtype, device=device))
        self.reset_parameters()

    @classmethod
    def from_pretrained(cls, embeddings: torch.Tensor, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> EagerEmbedding:
        """A layer whose weight is ``embeddings`` itself (shared storage, S1.6): frozen
        unless ``freeze=False``; the padding row is not zeroed. Every argument is checked
        before anything is built (ValueError)."""
        embeddings = check_pretrained(embeddings)
        freeze = check_bool("freeze", freeze)
        layer = cls(*embeddings.shape, padding_idx, max_norm, norm_type, scale_grad_by_freq,
                    sparse, init=_keep, dtype=embeddings.dtype, device=embeddings.device)
        layer.weight = nn.Parameter(embeddings, requires_grad=not freeze)
        layer.init = cls.default_init
        return layer

    def reset_parameters(self) -> None:
        """Fill the table by the layer's ``init`` scheme, then zero the padding row (S1.7)."""
        init_table_(self.weight, self.init, self.options.padding_idx)

    @classmethod
    def from_config(cls, config: EmbeddingConfig, *,
                    device: torch.device | str | None = None) -> EagerEmbedding:
        return cls(**config.as_kwargs(), device=device)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return embed(input, self.weight, self.options)

    def extra_repr(self) -> str:
        options = self.options.extra_repr()
        return f"{self.num_embeddings}, {self.embedding_dim}" + (f", {options}" if options else "")
