"""Weight gradients: dense rule (S1.3, S1.5), scale_grad_by_freq, sparse COO (S1.4)."""

import pytest
import torch
import torch.nn.functional as F
from embedspec.reference import Embedding, embedding, lookup
from embedspec.reference.embedding import dense_weight_grad, sparse_weight_grad

FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def weight_grad(ids, weight, grad_out, **options):
    weight = weight.clone().requires_grad_()
    embedding(ids, weight, **options).backward(grad_out)
    return weight.grad


def torch_weight_grad(ids, weight, grad_out, **options):
    weight = weight.clone().requires_grad_()
    F.embedding(ids, weight, **options).backward(grad_out)
    return weight.grad


IDS = torch.tensor([[0, 2], [2, 2]])
GRAD_OUT = torch.tensor([[[1.0, 10.0], [2.0, 20.0]], [[4.0, 40.0], [8.0, 80.0]]])


def test_hand_computed_dense_gradient():
    grad = weight_grad(IDS, torch.zeros(4, 2), GRAD_OUT)
    assert grad.tolist() == [[1.0, 10.0], [0.0, 0.0], [14.0, 140.0], [0.0, 0.0]]


def test_hand_computed_scale_grad_by_freq_is_the_mean():
    grad = weight_grad(IDS, torch.zeros(4, 2), GRAD_OUT, scale_grad_by_freq=True)
    expected = torch.tensor([[1.0, 10.0], [0, 0], [14 / 3, 140 / 3], [0, 0]])
    torch.testing.assert_close(grad, expected, rtol=3e-7, atol=0)


def test_frequency_counts_span_the_whole_index_tensor():
    ids = torch.tensor([[1], [1], [0]])
    grad_out = torch.ones(3, 1, 1)
    grad = weight_grad(ids, torch.zeros(2, 1), grad_out, scale_grad_by_freq=True)
    assert grad.tolist() == [[1.0], [1.0]]


def test_hand_computed_padding_with_frequency_scaling():
    grad = weight_grad(IDS, torch.zeros(4, 2), GRAD_OUT, padding_idx=2, scale_grad_by_freq=True)
    assert grad.tolist() == [[1.0, 10.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]


def test_gradient_ignores_the_renorm_and_reaches_only_referenced_rows():
    weight = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    grad = weight_grad(torch.tensor([4, 1]), weight, torch.ones(2, 3))
    assert torch.count_nonzero(grad[[0, 2, 3]]) == 0
    assert grad[[1, 4]].tolist() == [[1.0] * 3] * 2


def test_input_gets_no_gradient_and_frozen_weight_is_fine():
    weight = torch.randn(3, 2)
    out = lookup(torch.tensor([0, 2]), weight)
    assert not out.requires_grad
    ids = torch.tensor([0, 2])
    trainable = weight.clone().requires_grad_()
    lookup(ids, trainable).sum().backward()
    assert ids.grad is None


def test_plain_dense_gradient_is_the_true_gradient():
    # padding_idx and scale_grad_by_freq deliberately depart from the true gradient
    ids = torch.tensor([[0, 3, 3], [1, 3, 0]])
    weight = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: lookup(ids, w), (weight,))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("options", [{}, {"scale_grad_by_freq": True}, {"padding_idx": 3},
                                     {"padding_idx": -2, "scale_grad_by_freq": True}])
def test_bitwise_equal_to_torch_without_duplicate_ids(dtype, options):
    gen = torch.Generator().manual_seed(5)
    weight = torch.randn(20, 6, generator=gen).to(dtype)
    ids = torch.randperm(20, generator=gen)[:12].reshape(3, 4)
    grad_out = torch.randn(3, 4, 6, generator=gen).to(dtype)
    assert torch.equal(weight_grad(ids, weight, grad_out, **options),
                       torch_weight_grad(ids, weight, grad_out, **options))


@pytest.mark.parametrize("options", [{}, {"scale_grad_by_freq": True}, {"padding_idx": 1}])
def test_close_to_torch_with_duplicate_ids(options):
    gen = torch.Generator().manual_seed(6)
    weight = torch.randn(8, 5, generator=gen)
    ids = torch.randint(0, 8, (40,), generator=gen)
    grad_out = torch.randn(40, 5, generator=gen)
    torch.testing.assert_close(weight_grad(ids, weight, grad_out, **options),
                               torch_weight_grad(ids, weight, grad_out, **options),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_accumulates_in_float32_and_rounds_once(dtype):
    ids = torch.zeros(4096, dtype=torch.long)
    grad_out = torch.ones(4096, 2, dtype=dtype)
    grad = dense_weight_grad(grad_out, ids, 3, None, False)
    assert grad.dtype == dtype
    assert grad[0].tolist() == [4096.0, 4096.0]  # sequential 16-bit adds stall far below


def test_gradient_dtype_follows_grad_output():
    grad = dense_weight_grad(torch.ones(2, 3, dtype=torch.float64), torch.tensor([0, 1]), 2,
                             None, False)
    assert grad.dtype == torch.float64
    assert grad.shape == (2, 3)


def test_zero_sized_tables_have_zero_sized_gradients():
    weight = torch.empty(3, 0, requires_grad=True)
    embedding(torch.tensor([1, 2]), weight).sum().backward()
    assert weight.grad.shape == (3, 0)


def test_sparse_gradient_layout_and_padding_removal():
    weight = torch.randn(10, 3, requires_grad=True)
    ids = torch.tensor([[1, 2, 2], [0, 1, 9]])
    grad_out = torch.arange(18, dtype=torch.float32).reshape(2, 3, 3)
    embedding(ids, weight, padding_idx=2, sparse=True).backward(grad_out)
    grad = weight.grad
    assert grad.layout == torch.sparse_coo
    assert grad.shape == (10, 3)
    assert grad._indices().dtype == torch.int64
    assert grad._indices().tolist() == [[1, 0, 1, 9]]
    assert torch.equal(grad._values(), grad_out.reshape(6, 3)[[0, 3, 4, 5]])
    dense = weight_grad(ids, weight.detach(), grad_out, padding_idx=2)
    assert torch.equal(grad.coalesce().to_dense(), dense)


def test_sparse_gradient_bitwise_equal_to_torch():
    gen = torch.Generator().manual_seed(8)
    weight = torch.randn(12, 4, generator=gen)
    ids = torch.randint(0, 12, (3, 5), generator=gen)
    grad_out = torch.randn(3, 5, 4, generator=gen)
    ours = weight_grad(ids, weight, grad_out, sparse=True, padding_idx=5)
    theirs = torch_weight_grad(ids, weight, grad_out, sparse=True, padding_idx=5)
    assert torch.equal(ours._indices(), theirs._indices())
    assert torch.equal(ours._values(), theirs._values())


def test_sparse_gradient_with_only_padding_entries():
    grad = sparse_weight_grad(torch.ones(2, 3), torch.tensor([4, 4]), 5, 4)
    assert grad._indices().shape == (1, 0)
    assert grad._values().shape == (0, 3)
    assert grad.shape == (5, 3)


def test_sparse_gradient_of_a_zero_width_table_has_no_entries():
    weight = torch.empty(3, 0, requires_grad=True)
    embedding(torch.tensor([1, 2]), weight, sparse=True).sum().backward()
    assert weight.grad.shape == (3, 0)
    assert weight.grad._indices().shape == (1, 0)


def test_backward_is_deterministic():
    gen = torch.Generator().manual_seed(9)
    weight = torch.randn(7, 5, generator=gen)
    ids = torch.randint(0, 7, (200,), generator=gen)
    grad_out = torch.randn(200, 5, generator=gen)
    first = weight_grad(ids, weight, grad_out, scale_grad_by_freq=True)
    assert all(torch.equal(first, weight_grad(ids, weight, grad_out, scale_grad_by_freq=True))
               for _ in range(3))


def test_sparse_layer_gives_a_sparse_gradient():
    layer = Embedding(6, 2, sparse=True)
    layer(torch.tensor([0, 5, 5])).sum().backward()
    assert layer.weight.grad.is_sparse
    assert layer.weight.grad.coalesce().to_dense()[5].tolist() == [2.0, 2.0]


def test_sparse_with_frequency_scaling_is_value_error_up_front():
    weight = torch.randn(3, 2)
    before = weight.clone()
    with pytest.raises(ValueError, match="scale_grad_by_freq"):
        Embedding(3, 2, sparse=True, scale_grad_by_freq=True)
    with pytest.raises(ValueError, match="scale_grad_by_freq"):
        embedding(torch.tensor([0]), weight, max_norm=0.0, sparse=True, scale_grad_by_freq=True)
    with pytest.raises(ValueError, match="scale_grad_by_freq"):
        lookup(torch.tensor([0]), weight, sparse=True, scale_grad_by_freq=True)
    assert torch.equal(weight, before)
