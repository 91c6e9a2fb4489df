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
from embedspec.reference.configs import VocabParallelConfig
from embedspec.reference.validation import check_int
from torch import nn

from . import kernels
from .embedding import check_dtype

DEFAULT_VOCAB_PADDING_SIZE = 64


def pad_to_multiple(size: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is ``>= size``."""
    return -(-size // multiple) * multiple


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
        num_embeddings = check_int("num_embeddings", num_embeddings, minimum=0)
        embedding_dim = check_int("embedding_dim", embedding_dim, minimum=0)
        padding_size = check_int("padding_size", padding_size, minimum=1)
        if org_num_embeddings is None:
            org_vocab_size = num_embeddings
        else:
            org_vocab_size = check_int("org_num_embeddings", org_num_embeddings, minimum=1)
            if org_vocab_size > num_embeddings:
                raise ValueError(f"org_num_embeddings={org_vocab_size} exceeds "
                                 f"num_embeddings={num_embeddings}")
        dtype = check_dtype(params_dtype, "params_dtype")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_size = padding_size
        self.params_dtype = dtype
        self.org_vocab_size = org_vocab_size
        self.num_added_embeddings = num_embeddings - org_vocab_size
        self.org_vocab_size_padded = pad_to_multiple(org_vocab_size, padding_size)
        self.num_embeddings_padded = pad_to_multiple(
            self.org_vocab_size_padded + self.num_added_embeddings, padding_size)
        self.num_embeddings_per_partition = self.num_embeddings_padded
        full = torch.empty(num_embeddings, embedding_dim, dtype=dtype, device=device)
        if full.numel() > 0:
            full.normal_(0.0, 1.0)
        self.weight = nn.Parameter(self._local_table(full))

    @classmethod
    def from_config(cls, config: VocabParallelConfig, *,
                    device: torch.device | str | None = None) -> EagerVocabParallelEmbedding:
        return cls(**config.as_kwargs(), device=device)

    @property
    def added_row_offset(self) -> int:
        """What an added id adds to become its local row."""
        return self.org_vocab_size_padded - self.org_vocab_size

    def _local_table(self, full: torch.Tensor) -> torch.Tensor:
        """The local table laid out from a ``(num_embeddings, D)`` table in id order."""
        local = full.new_zeros(self.num_embeddings_padded, full.shape[1])
        org, added = self.org_vocab_size, self.num_added_embeddings
        local[:org] = full[:org]
        start = self.org_vocab_size_padded
        local[start:start + added] = full[org:]
        return local

    def local_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Local rows of validated ids: base ids as is, added ids shifted past the base
        padding."""
        if self.num_added_embeddings == 0 or self.added_row_offset == 0:
            return ids
        return torch.where(ids >= self.org_vocab_size, ids + self.added_row_offset, ids)

    def partial(self, input_: torch.Tensor) -> torch.Tensor:
        """This rank's partial output, which at world size 1 is the output."""
        ids = kernels.check_ids(input_, self.num_embeddings, "input_")
        return kernels.lookup(self.local_rows(ids.to(self.weight.device)), self.weight)

    def forward(self, input_: torch.Tensor) -> torch.Tensor:
        return self.partial(input_)

    def weight_loader(self, param: nn.Parameter, loaded_weight: torch.Tensor) -> None:
        """Load a checkpoint table into ``param`` (this layer's ``weight``).

        ``loaded_weight``: a floating ``(org_vocab_size, D)`` table (base only: added
        rows become zero) or ``(num_embeddings, D)`` (base then added). Padding rows
        become zero. Any other input raises ValueError with the weight unchanged.
        """
        if param is not self.weight:
            raise ValueError("param must be this layer's weight parameter")
        if not isinstance(loaded_weight, torch.Tensor) or not loaded_weight.is_floating_point():
            what = (f"dtype {loaded_weight.dtype}" if isinstance(loaded_weight, torch.Tensor)
                    else type(loaded_weight).__name__)
            raise ValueError(f"loaded_weight must be a floating-point tensor, got {what}")
        shape = tuple(loaded_weight.shape)
        valid_rows = (self.org_vocab_size, self.num_embeddings)
        if len(shape) != 2 or shape[1] != self.embedding_dim or shape[0] not in valid_rows:
            raise ValueError(
                f"loaded_weight must have shape ({self.org_vocab_size}, {self.embedding_dim}) "
                f"(base vocab only) or ({self.num_embeddings}, {self.embedding_dim}) "
                f"(base then added vocab), got {shape}")
        source = loaded_weight.detach().to(device=param.device, dtype=param.dtype)
        if shape[0] != self.num_embeddings:
            source = torch.cat([source, source.new_zeros(self.num_added_embeddings, shape[1])])
        with torch.no_grad():
            param.copy_(self._local_table(source))

    def get_sharded_to_full_mapping(self) -> list[int] | None:
        """None: a single rank's table needs no reordering (FastVideo returns None below
        two ranks)."""
        return None

    def extra_repr(self) -> str:
        return (f"num_embeddings={self.num_embeddings}, embedding_dim={self.embedding_dim}, "
                f"org_vocab_size={self.org_vocab_size}, "
                f"num_embeddings_padded={self.num_embeddings_padded}, tp_rank=0, tp_size=1")
