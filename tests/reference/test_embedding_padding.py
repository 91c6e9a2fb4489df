"""padding_idx (S1.1): range [-V, V-1], negative values stored as V + p, zero gradient,
padding row zeroed by init but returned as stored."""

import pytest
import torch
import torch.nn.functional as F
from embedspec.reference import Embedding, embedding


@pytest.mark.parametrize(("given", "stored"), [(0, 0), (4, 4), (-1, 4), (-5, 0), (-2, 3)])
def test_padding_idx_range_and_normalisation(given, stored):
    layer = Embedding(5, 3, padding_idx=given)
    assert layer.padding_idx == stored
    assert torch.count_nonzero(layer.weight[stored]) == 0
    assert torch.count_nonzero(layer.weight) == 4 * 3


@pytest.mark.parametrize("bad", [5, -6, 100, -100])
def test_padding_idx_out_of_range_is_value_error(bad):
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(5, 3, padding_idx=bad)
    with pytest.raises(ValueError, match="padding_idx"):
        embedding(torch.tensor([0]), torch.zeros(5, 3), padding_idx=bad)


@pytest.mark.parametrize("bad", [1.0, 2.5, "1", True, torch.tensor(1)])
def test_padding_idx_non_integer_is_value_error(bad):
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(5, 3, padding_idx=bad)


def test_padding_idx_on_empty_vocabulary_is_value_error():
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(0, 3, padding_idx=0)


def test_negative_and_positive_padding_idx_mean_the_same_row():
    weight = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    ids = torch.tensor([[4, 0, 4], [1, 4, 2]])
    grads = []
    for padding_idx in (4, -1):
        w = weight.clone().requires_grad_()
        embedding(ids, w, padding_idx=padding_idx).sum().backward()
        grads.append(w.grad)
    assert torch.equal(grads[0], grads[1])
    assert torch.count_nonzero(grads[0][4]) == 0


def test_padding_row_gradient_is_exactly_zero_and_matches_torch():
    gen = torch.Generator().manual_seed(2)
    weight = torch.randn(6, 4, generator=gen)
    ids = torch.tensor([0, 3, 5, 3, 2])
    grad_out = torch.randn(5, 4, generator=gen)
    ours = weight.clone().requires_grad_()
    theirs = weight.clone().requires_grad_()
    embedding(ids, ours, padding_idx=3).backward(grad_out)
    F.embedding(ids, theirs, padding_idx=3).backward(grad_out)
    assert torch.equal(ours.grad[3], torch.zeros(4))
    assert torch.equal(ours.grad, theirs.grad)


def test_forward_does_not_force_the_padding_row_to_zero():
    layer = Embedding(3, 2, padding_idx=1)
    with torch.no_grad():
        layer.weight[1] = torch.tensor([7.0, -7.0])
    assert layer(torch.tensor([1])).tolist() == [[7.0, -7.0]]
