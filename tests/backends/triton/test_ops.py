"""Every Triton operator passes ``torch.library.opcheck`` (schema, fake tensors, autograd
registration, AOT dispatch), and the lookup operators' gradients are the spec's."""

from __future__ import annotations

import pytest
import torch
from embedspec.backends.triton.ops import binary, grads, layer_norm, lookup, renorm, validation
from embedspec.backends.triton.runtime import runtime

DEVICE = torch.device(runtime().device)


def _table(rows: int = 8, dim: int = 5, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(rows, dim, generator=torch.Generator().manual_seed(0)).to(dtype).to(DEVICE)


IDS = torch.tensor([3, 1, 3, 7, 0], device=DEVICE)


def _cases():
    table = _table()
    grad = torch.randn(5, 5, device=DEVICE)
    scale = torch.rand(5, device=DEVICE)
    packed = binary.pack_rows(table, IDS, 1, None)
    x = torch.randn(4, 6, device=DEVICE)
    gamma, beta = torch.rand(6, device=DEVICE) + 0.5, torch.randn(6, device=DEVICE)
    y, mean, rstd = layer_norm.layer_norm(x, gamma, beta, 1e-5)
    return {
        "checked_ids": (validation.checked_ids, (IDS, 8, "input")),
        "gather": (lookup.gather, (IDS, table)),
        "lookup": (lookup.lookup, (IDS, _table().requires_grad_(), 1, True, False, False)),
        "lookup_deterministic": (lookup.lookup, (IDS, _table().requires_grad_(), -1, False,
                                                 False, True)),
        "dense_grad_atomic": (grads.atomic_grad, (grad, IDS, scale, 8, 1, True)),
        "dense_grad_deterministic": (grads.deterministic_grad, (grad, IDS, None, 8, -1, True)),
        "renorm_": (renorm.renorm_, (IDS, _table(), 1.0, 2.0, False)),
        "layer_norm": (layer_norm.layer_norm, (x.requires_grad_(), gamma.requires_grad_(),
                                               beta.requires_grad_(), 1e-5)),
        "layer_norm_backward": (layer_norm.layer_norm_backward,
                                (torch.randn_like(y), x.detach(), gamma.detach(), mean, rstd)),
        "binary_pack": (binary.pack_rows, (table, IDS, 1, None)),
        "binary_unpack": (binary.unpack, (*packed, IDS, 5, torch.float32)),
        "binary_lookup": (binary.lookup, (_table().requires_grad_(), IDS, *packed, 1, True)),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_opcheck(name):
    op, args = CASES[name]
    torch.library.opcheck(op, args)


@pytest.mark.parametrize("deterministic", [False, True])
def test_lookup_gradient_is_dense_with_padding_and_frequency_scaling(deterministic):
    weight = _table().requires_grad_()
    out = lookup.lookup(IDS, weight, 1, True, False, deterministic)
    out.backward(torch.ones_like(out))
    expected = torch.zeros(8, 5)
    for row, count in ((3, 2), (7, 1), (0, 1)):
        expected[row] = 1.0 * count / count
    assert torch.equal(weight.grad.cpu(), expected)  # row 1 is the padding row


def test_sparse_lookup_gradient_drops_padding_positions():
    weight = _table().requires_grad_()
    out = lookup.lookup(IDS, weight, 3, False, True, False)
    out.backward(torch.arange(25.0, device=DEVICE).view(5, 5))
    grad = weight.grad
    assert grad.is_sparse
    assert grad._indices().tolist() == [[1, 7, 0]]
    assert torch.equal(grad._values().cpu(), torch.arange(25.0).view(5, 5)[[1, 3, 4]])
