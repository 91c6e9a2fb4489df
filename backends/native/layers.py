"""The native layers: the eager backend's layers (their construction, validation, state
and public methods) with every forward computed by the native operators.

Each layer holds its operators in ``ops`` (:class:`~.kernels.NativeOps`), so a variant
set can be swapped in. Autograd comes from the operators' registered formulas, and no
forward has a data-dependent branch in Python, so every layer traces under
``torch.compile(fullgraph=True)``.
"""

from __future__ import annotations

from typing import Any

import torch
from embedspec.backends.eager.binary import EagerBinaryEmbedding, PackedBinary
from embedspec.backends.eager.embedding import EagerEmbedding
from embedspec.backends.eager.sharded import EagerShardedEmbedding
from embedspec.backends.eager.stable import EagerStableEmbedding, norm_dtype
from embedspec.backends.eager.vocab_parallel import EagerVocabParallelEmbedding

from .kernels import (
    FLOAT64_TERMS,
    NativeOps,
    checked_ids,
    embed,
    native_ops,
    padding_arg,
    renorm_,
)


class NativeOpsMixin:
    """Gives a layer its ``ops`` (the native operators unless another set is assigned)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ops: NativeOps = native_ops()


class NativeEmbedding(NativeOpsMixin, EagerEmbedding):
    """The embedding family (S1) on the native gather, renorm and backward operators."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return embed(self.ops, input, self.weight, self.options)


class NativeShardedEmbedding(NativeOpsMixin, EagerShardedEmbedding):
    """A one-rank sharded embedding (S4); its renorm rounds float64-term norms (S4.4)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return embed(self.ops, input, self.weight, self.options, rounding=FLOAT64_TERMS)


class NativeStableEmbedding(NativeOpsMixin, EagerStableEmbedding):
    """The stable family (S2): renorm, then one fused gather + layer norm operator."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        options = self.options
        ids = checked_ids(input, self.weight)
        renorm_(self.ops, self.weight, ids, options)
        compute = norm_dtype(self.weight.dtype)
        out, _, _ = self.ops.stable_forward(
            self.weight, ids, self.norm.weight.to(compute), self.norm.bias.to(compute),
            float(self.norm.eps), padding_arg(options.padding_idx), options.scale_grad_by_freq,
            options.sparse)
        return out


class NativeBinaryEmbedding(NativeOpsMixin, EagerBinaryEmbedding):
    """The binary family (S5): native packing, fused latent forward, packed lookup."""

    def packed(self) -> PackedBinary:
        with torch.no_grad():
            return PackedBinary(*self.ops.binary_pack(self.weight, padding_arg(self.padding_idx),
                                                      self.centre))

    def forward_packed(self, input: torch.Tensor) -> torch.Tensor:
        ids = checked_ids(input, self.weight)
        qweight, scale = self.packed()
        with torch.no_grad():
            return self.ops.binary_packed_lookup(qweight, scale, ids, self.embedding_dim,
                                                 self.dtype)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        ids = checked_ids(input, self.weight)
        out, _ = self.ops.binary_forward(self.weight, ids, padding_arg(self.padding_idx),
                                         self.centre)
        return out


class NativeVocabParallelEmbedding(NativeOpsMixin, EagerVocabParallelEmbedding):
    """A one-rank vocab-parallel embedding (S3) on the masked local lookup operator."""

    def partial(self, input_: torch.Tensor) -> torch.Tensor:
        ids = checked_ids(input_, self.weight, "input_")
        org = self.org_vocab_size
        return self.ops.vocab_lookup(self.weight, ids, self.num_embeddings, 0, org,
                                     self.org_vocab_size_padded - org, org, self.num_embeddings)
