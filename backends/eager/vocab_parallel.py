"""The ``vocab_parallel`` family at world size 1 in eager PyTorch (spec section 3).

One rank holds the whole padded vocabulary. The local table has
``num_embeddings_padded`` rows in the order base rows, base padding, added rows, added
padding (F3.2), where ``org_vocab_size_padded = pad(org_vocab_size)`` and
``num_embeddings_padded = pad(org_vocab_size_padded + num_added)`` (F3.1).

Token id ``t`` maps to local row ``t`` (base) or ``t - org_vocab_size +
org_vocab_size_padded`` (added): the same mapping as at every other world size (S3).
Valid ids are ``[0, num_embeddings)`` (IndexError otherwise); padding rows are never
read, zero at construction, and get zero gradient.
"""

from __future__ import annotations

import torch
from embedspec.backends import support
from embedspec.reference.configs import VocabParallelConfig
from torch import nn

from . import kernels
from .vocab_layout import DEFAULT_VOCAB_PADDING_SIZE, VocabLayout


class EagerVocabParallelEmbedding(nn.Module):
    """A vocab-parallel embedding on a single rank (``tp_rank = 0``, ``tp_size = 1``).

    Arguments as FastVideo/vLLM: ``num_embeddings`` (``>= 0``), ``embedding_dim``
    (``>= 0``), ``params_dtype`` (None: the default dtype), ``org_num_embeddings``
    (None or in ``[1, num_embeddings]``), ``padding_size`` (``>= 1``); ValueError naming
    the argument otherwise. The weight is trainable and is cut from one N(0, 1) draw of
    the ``(num_embeddings, embedding_dim)`` table (S3), so it holds the same rows as a
    sharded world drawn from the same RNG state.
    """

    tp_rank = 0
    tp_size = 1

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 params_dtype: torch.dtype | None = None, org_num_embeddings: int | None = None,
                 padding_size: int = DEFAULT_VOCAB_PADDING_SIZE, *,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        layout = VocabLayout.create(num_embeddings, org_num_embeddings, padding_size)
        embedding_dim = support.check_int("embedding_dim", embedding_dim, minimum=0)
        dtype = support.check_dtype(params_dtype, "params_dtype")
        device = support.check_device(device)
        self.layout = layout
        self.shard = layout.shard(0)
        self.num_embeddings = layout.num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_size = layout.padding_size
        self.params_dtype = dtype
        self.org_vocab_size = layout.org_vocab_size
        self.num_added_embeddings = layout.num_added_embeddings
        self.org_vocab_size_padded = layout.org_vocab_size_padded
        self.num_embeddings_padded = layout.num_embeddings_padded
        self.num_embeddings_per_partition = layout.num_embeddings_per_partition
        self.weight = nn.Parameter(layout.initial_shard(0, embedding_dim, dtype, device))

    @classmethod
    def from_config(cls, config: VocabParallelConfig, *,
                    device: torch.device | str | None = None) -> EagerVocabParallelEmbedding:
        return cls(**config.as_kwargs(), device=device)

    def partial(self, input_: torch.Tensor) -> torch.Tensor:
        """This rank's partial output, which at world size 1 is the output."""
        ids = support.check_ids(input_, self.num_embeddings, "input_")
        return kernels.lookup(self.shard.owned_rows(ids.to(self.weight.device)), self.weight)

    def forward(self, input_: torch.Tensor) -> torch.Tensor:
        return self.partial(input_)

    def weight_loader(self, param: nn.Parameter, loaded_weight: torch.Tensor) -> None:
        """Load a checkpoint table into ``param`` (this layer's ``weight``).

        ``loaded_weight``: a floating ``(org_vocab_size, D)`` table (base only: added
        rows become zero) or ``(num_embeddings, D)`` (base then added). Padding rows
        become zero. Any other input raises ValueError with the weight unchanged.
        """
        loaded = support.check_loaded_weight(
            param, self.weight, loaded_weight, org_vocab_size=self.org_vocab_size,
            num_embeddings=self.num_embeddings, embedding_dim=self.embedding_dim)
        full = self.layout.full_from_checkpoint(loaded.to(device=param.device, dtype=param.dtype))
        with torch.no_grad():
            param.copy_(self.shard.cut(full))

    def get_sharded_to_full_mapping(self) -> list[int] | None:
        """None: a single rank's table needs no reordering (FastVideo returns None below
        two ranks)."""
        return None

    def extra_repr(self) -> str:
        return (f"num_embeddings={self.num_embeddings}, embedding_dim={self.embedding_dim}, "
                f"org_vocab_size={self.org_vocab_size}, "
                f"num_embeddings_padded={self.num_embeddings_padded}, tp_rank=0, tp_size=1")
