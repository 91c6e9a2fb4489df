"""Index validation as an operator, so that compiled layers keep the spec's errors.

The range check needs the ids' values (one host synchronisation), which
``torch.compile`` cannot trace without breaking the graph. As an opaque operator it is
one node of the graph: it runs the eager backend's check (``IndexError`` naming the
bad id, S0.3) and returns the flat int64 ids every kernel then reads, so the check is
ordered before any kernel that writes (S0.4).
"""

import torch
from embedspec.backends.eager.kernels import check_ids


@torch.library.custom_op("embedspec_triton::checked_ids", mutates_args=())
def checked_ids(ids: torch.Tensor, num_valid: int, name: str) -> torch.Tensor:
    """``ids`` flattened to a fresh int64 tensor, after checking every id is in
    ``[0, num_valid)`` (``IndexError`` otherwise)."""
    check_ids(ids, num_valid, name)
    return ids.reshape(-1).to(torch.int64, copy=True)


@checked_ids.register_fake
def _(ids: torch.Tensor, num_valid: int, name: str) -> torch.Tensor:
    return ids.new_empty((ids.numel(),), dtype=torch.int64)
