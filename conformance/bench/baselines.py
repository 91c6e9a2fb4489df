"""The baselines every backend is timed against, holding the backend's weights.

* ``torch.nn``: plain eager PyTorch, as upstream writes the layer:
  ``torch.nn.Embedding`` with the same options; for ``stable``, ``nn.Embedding`` then
  ``nn.LayerNorm`` in float32 (bitsandbytes' composition); for ``binary``, the packed
  sign form written with torch operators (sign of the rows times the mean of their
  magnitudes); for ``vocab_parallel``, vLLM's masked local lookup (masks, id shift,
  ``F.embedding``, zeroing of ids the rank does not own);
* ``torch.compile``: that same module compiled by inductor (its compile time is
  measured on the first call, outside the timed rounds);
* ``eager``: the ``eager`` backend, built through the backend contract.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from embedspec.backends.contract import BuildContext
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    LayerConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)
from torch import nn

from . import BASELINES

__all__ = ["BASELINES", "compiled", "eager_module", "torch_nn_module"]
#: The LayerNorm epsilon of bitsandbytes' StableEmbedding.
LAYER_NORM_EPS = 1e-5


class TorchStable(nn.Module):
    """bitsandbytes ``StableEmbedding``: lookup, cast to float32, layer norm, cast back."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.embedding = nn.Embedding(*table.shape, _weight=table)
        self.norm = nn.LayerNorm(table.shape[1], eps=LAYER_NORM_EPS, device=table.device)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.embedding(ids)
        return self.norm(rows.float()).to(rows.dtype)


class TorchBinary(nn.Module):
    """The binary embedding's packed sign form with torch operators: ``sign(w) *
    mean|w|`` of each referenced row (``+1`` for ``w >= 0``), computed in float32."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(table)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = F.embedding(ids, self.weight)
        scale = rows.abs().sum(-1, keepdim=True, dtype=torch.float64).div_(rows.shape[-1])
        signs = torch.where(rows >= 0, 1.0, -1.0).float()
        return (signs * scale.float()).to(rows.dtype)


class TorchVocabParallel(nn.Module):
    """vLLM's rank-local lookup (``get_masked_input_and_mask`` + ``F.embedding``) on a
    local table laid out base rows, base padding, added rows (world size 1)."""

    def __init__(self, table: torch.Tensor, config: VocabParallelConfig) -> None:
        super().__init__()
        self.weight = nn.Parameter(table)
        org = config.org_num_embeddings or config.num_embeddings
        pad = config.padding_size
        self.org_vocab_size = org
        self.num_embeddings = config.num_embeddings
        self.added_offset = org - (-(-org // pad) * pad)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        org_mask = ids < self.org_vocab_size
        added_mask = (ids >= self.org_vocab_size) & (ids < self.num_embeddings)
        vocab_mask = org_mask | added_mask
        local = vocab_mask * (ids - self.added_offset * added_mask)
        out = F.embedding(local, self.weight)
        return out.masked_fill_(~vocab_mask.unsqueeze(-1), 0)


def torch_nn_module(config: LayerConfig, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """The ``torch.nn`` baseline of ``config`` holding ``state["weight"]`` (shared, not
    copied)."""
    table = state["weight"]
    if isinstance(config, EmbeddingConfig):
        return nn.Embedding(*table.shape, max_norm=config.max_norm, norm_type=config.norm_type,
                            sparse=config.sparse, _weight=table)
    if isinstance(config, StableEmbeddingConfig):
        return TorchStable(table)
    if isinstance(config, BinaryConfig):
        return TorchBinary(table)
    if isinstance(config, VocabParallelConfig):
        return TorchVocabParallel(table, config)
    raise TypeError(f"no torch.nn baseline for {type(config).__name__}")


def compiled(module: nn.Module) -> nn.Module:
    """``module`` compiled by inductor (compilation happens on the first call)."""
    return torch.compile(module, backend="inductor")  # type: ignore[return-value]


def eager_module(config: LayerConfig, state: Mapping[str, torch.Tensor],
                 device: torch.device) -> nn.Module:
    """The ``eager`` backend's layer for ``config`` holding ``state`` (shared)."""
    from embedspec.backends.eager import EagerBackend

    module = EagerBackend().build(config, BuildContext(device=device))
    module.load_state_dict(state, assign=True)
    return module


def first_call_seconds(step: object) -> float:
    """Seconds of one call of ``step`` (a compiled module's first call compiles it)."""
    start = time.perf_counter()
    step()  # type: ignore[operator]
    return time.perf_counter() - start
