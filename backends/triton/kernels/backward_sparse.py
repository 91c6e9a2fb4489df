"""Sparse weight gradient (S1.4): one COO entry per position whose id is not the padding
row, in input order, uncoalesced; its value is the position's gradient row, gathered by
the forward gather kernel."""

from collections.abc import Callable

import torch

from .gather import gather_rows


def sparse_grad(grad: torch.Tensor, ids: torch.Tensor, num_rows: int, padding_idx: int,
                gather: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = gather_rows
                ) -> torch.Tensor:
    """The sparse ``(num_rows, D)`` gradient of contiguous ``grad`` ``(N, D)`` at 1-D
    ``ids``; ``padding_idx < 0`` means no padding row. No entries (all padding, empty
    input, ``D = 0``) gives indices ``(1, 0)`` and values ``(0, D)``. ``gather`` gathers the
    values (the gather kernel, or the operator registered around it)."""
    dim = grad.shape[1]
    positions = torch.arange(ids.shape[0], device=ids.device)
    if padding_idx >= 0:
        positions = positions[ids != padding_idx]
    if dim == 0:
        positions = positions[:0]
    values = gather(positions, grad)
    rows = ids.to(torch.int64).index_select(0, positions)
    return torch.sparse_coo_tensor(rows.reshape(1, -1), values, (num_rows, dim),
                                   check_invariants=False)
