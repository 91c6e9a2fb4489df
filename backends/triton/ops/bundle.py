""":class:`TritonOps`: the operators a Triton layer computes with, in one swappable set.

Layers never call kernels directly: they call a bundle, so a variant of the backend (the
deterministic one, or a deliberately wrong one in the tests) differs only in the
bundle it hands its layers.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from embedspec.backends.eager.embedding import LookupOptions

from . import binary, layer_norm, lookup, renorm


def _padding(padding_idx: int | None) -> int:
    return -1 if padding_idx is None else padding_idx


@dataclass(frozen=True)
class TritonOps:
    """``deterministic``: dense gradients through sorted segments instead of atomics.
    ``lookup_op``: the lookup operator (:func:`.lookup.define_lookup`)."""

    deterministic: bool = False
    lookup_op: Callable = lookup.lookup

    def lookup(self, ids: torch.Tensor, shape: torch.Size, weight: torch.Tensor,
               padding_idx: int | None = None, scale_grad_by_freq: bool = False,
               sparse: bool = False) -> torch.Tensor:
        """``weight[ids]`` of shape ``shape + (D,)`` with the spec's backward; ``ids``
        validated, flat, int64 and on ``weight``'s device; ``padding_idx`` normalised."""
        rows = self.lookup_op(ids, weight, _padding(padding_idx), scale_grad_by_freq, sparse,
                              self.deterministic)
        return rows.view(*shape, weight.shape[1])

    def renorm_(self, weight: torch.Tensor, ids: torch.Tensor, max_norm: float,
                norm_type: float, float64_norms: bool = False) -> None:
        """Renormalise the referenced rows in place, outside autograd (S1.2, S4.4)."""
        with torch.no_grad():
            renorm.renorm_(ids, weight, max_norm, norm_type, float64_norms)

    def embed(self, ids: torch.Tensor, shape: torch.Size, weight: torch.Tensor,
              options: LookupOptions, *, float64_norms: bool = False) -> torch.Tensor:
        """Renormalise (if ``max_norm``), then look up, as ``options`` say."""
        if options.max_norm is not None:
            self.renorm_(weight, ids, options.max_norm, options.norm_type, float64_norms)
        return self.lookup(ids, shape, weight, options.padding_idx, options.scale_grad_by_freq,
                           options.sparse)

    def layer_norm(self, rows: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
        """``norm(rows)`` computed in ``norm``'s dtype and rounded to ``rows``' dtype."""
        flat = rows.reshape(math.prod(rows.shape[:-1]), rows.shape[-1]).contiguous()
        out, _, _ = layer_norm.layer_norm(flat, norm.weight, norm.bias, norm.eps)
        return out.view(rows.shape)

    def pack(self, weight: torch.Tensor, ids: torch.Tensor, padding_idx: int | None,
             centre: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The packed rows ``weight[ids]`` (S5) for 1-D ``ids``."""
        with torch.no_grad():
            return binary.pack_rows(weight.detach(), ids, _padding(padding_idx), centre)

    def unpack(self, qweight: torch.Tensor, scale: torch.Tensor, ids: torch.Tensor, dim: int,
               dtype: torch.dtype) -> torch.Tensor:
        """Rows ``(N, dim)`` of the packed table at 1-D ``ids``, without gradient."""
        return binary.unpack(qweight, scale, ids, dim, dtype)

    def binary_lookup(self, weight: torch.Tensor, ids: torch.Tensor, packed: tuple,
                      padding_idx: int | None) -> torch.Tensor:
        """Rows of the per-position ``packed`` rows, straight-through into ``weight``."""
        qweight, scale = packed
        return binary.lookup(weight, ids, qweight, scale, _padding(padding_idx),
                             self.deterministic)
