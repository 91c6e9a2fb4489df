"""The Triton layers: the eager backend's layers (their validation, initialisation,
state layout and public methods) computing with a :class:`~.ops.bundle.TritonOps`.

Each layer validates its input with the eager backend's checks (S0.2, S0.3), through
the :mod:`.ops.validation` operator, before any kernel runs, so no kernel writes on a
bad call (S0.4).
"""

from __future__ import annotations

from typing import Any

import torch
from embedspec.backends.eager import (
    EagerBinaryEmbedding,
    EagerEmbedding,
    EagerShardedEmbedding,
    EagerStableEmbedding,
    EagerVocabParallelEmbedding,
    PackedBinary,
)
from embedspec.backends.eager.binary import table_centre
from embedspec.backends.eager.kernels import check_ids

from .ops.bundle import TritonOps
from .ops.validation import checked_ids


class UsesOps:
    """Takes the keyword ``ops`` (a :class:`TritonOps`) besides the eager layer's arguments;
    without it (a layer made by the ``from_pretrained`` class method, which has no backend
    to ask) the default, atomic-backward set."""

    ops: TritonOps

    def __init__(self, *args: Any, ops: TritonOps | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ops = ops if ops is not None else TritonOps()

    def _ids(self, input: object, name: str = "input") -> tuple[torch.Tensor, torch.Size]:
        """Validated ids (S0.2, S0.3) flat, int64, on the weight's device, and their shape."""
        if not isinstance(input, torch.Tensor):
            check_ids(input, self.num_embeddings, name)  # the eager check's TypeError
        flat = checked_ids(input, self.num_embeddings, name)
        return flat.to(self.weight.device), input.shape


class TritonEmbedding(UsesOps, EagerEmbedding):
    """:class:`EagerEmbedding` through the Triton renorm and lookup."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.ops.embed(*self._ids(input), self.weight, self.options)


class TritonStableEmbedding(UsesOps, EagerStableEmbedding):
    """:class:`EagerStableEmbedding` through the Triton lookup and layer norm."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        rows = self.ops.embed(*self._ids(input), self.weight, self.options)
        return self.ops.layer_norm(rows, self.norm)


class TritonVocabParallelEmbedding(UsesOps, EagerVocabParallelEmbedding):
    """:class:`EagerVocabParallelEmbedding` (one rank) through the Triton lookup."""

    def partial(self, input_: torch.Tensor) -> torch.Tensor:
        ids, shape = self._ids(input_, "input_")
        return self.ops.lookup(self.shard.owned_rows(ids), shape, self.weight)


class TritonShardedEmbedding(UsesOps, EagerShardedEmbedding):
    """:class:`EagerShardedEmbedding` (one rank) through the Triton renorm, whose norms
    accumulate in float64 as column shards' do (S4.4), and lookup."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.ops.embed(*self._ids(input), self.weight, self.options, float64_norms=True)


class TritonBinaryEmbedding(UsesOps, EagerBinaryEmbedding):
    """:class:`EagerBinaryEmbedding` through the Triton pack, unpack and straight-through
    lookup."""

    def _centre(self) -> torch.Tensor | None:
        return table_centre(self.weight) if self.centre else None

    def packed(self) -> PackedBinary:
        rows = torch.arange(self.num_embeddings, device=self.weight.device)
        return PackedBinary(*self.ops.pack(self.weight, rows, self.padding_idx, self._centre()))

    def forward_packed(self, input: torch.Tensor) -> torch.Tensor:
        ids, shape = self._ids(input)
        qweight, scale = self.packed()
        rows = self.ops.unpack(qweight, scale, ids, self.embedding_dim, self.dtype)
        return rows.view(*shape, self.embedding_dim)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        ids, shape = self._ids(input)
        packed = self.ops.pack(self.weight, ids, self.padding_idx, self._centre())
        rows = self.ops.binary_lookup(self.weight, ids, packed, self.padding_idx)
        return rows.view(*shape, self.embedding_dim)
