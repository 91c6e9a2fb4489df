"""max_norm / norm_type (S1.2): in-place renormalisation of the referenced rows."""

import math

import pytest
import torch
import torch.nn.functional as F
from embedspec.reference import Embedding, embedding, renorm_

FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def test_hand_computed_l2_row():
    weight = torch.tensor([[3.0, 4.0], [0.375, 0.5]])
    out = embedding(torch.tensor([0, 1]), weight, max_norm=1.0)
    # norm 5 > 1: factor 1 / (5 + 1e-7); norm 0.625 <= 1: untouched
    assert weight[0].tolist() == pytest.approx([0.6, 0.8], abs=1e-6)
    assert weight[1].tolist() == [0.375, 0.5]
    assert torch.equal(out, weight)


def test_factor_is_rounded_to_the_weight_dtype_then_multiplied():
    weight = torch.tensor([[3.0, 4.0]])
    factor = torch.tensor(1.0 / (5.0 + 1e-7), dtype=torch.float32)
    expected = torch.tensor([3.0, 4.0]) * factor
    renorm_(weight, torch.tensor([0]), 1.0)
    assert torch.equal(weight[0], expected)


def test_hand_computed_l1_and_inf_rows():
    l1 = torch.tensor([[1.0, -2.0, 3.0]])
    embedding(torch.tensor([0]), l1, max_norm=3.0, norm_type=1.0)  # norm 6
    assert l1[0].tolist() == pytest.approx([0.5, -1.0, 1.5], abs=1e-6)
    linf = torch.tensor([[1.0, -4.0, 2.0]])
    embedding(torch.tensor([0]), linf, max_norm=2.0, norm_type=math.inf)  # norm 4
    assert linf[0].tolist() == pytest.approx([0.5, -2.0, 1.0], abs=1e-6)


@pytest.mark.parametrize("norm_type", [3.0, 0.5, 1.5])
def test_norms_use_absolute_values(norm_type):
    weight = torch.tensor([[-1.0, -1.0, -1.0]])
    norm = 3.0 ** (1.0 / norm_type)
    embedding(torch.tensor([0]), weight, max_norm=1.0, norm_type=norm_type)
    assert weight[0].tolist() == pytest.approx([-1.0 / norm] * 3, rel=1e-6)
    assert torch.linalg.vector_norm(weight[0], norm_type).item() == pytest.approx(1.0, rel=1e-6)


def test_renorm_only_when_strictly_greater():
    weight = torch.tensor([[3.0, 4.0]])
    embedding(torch.tensor([0]), weight, max_norm=5.0)
    assert weight.tolist() == [[3.0, 4.0]]


def test_repeated_ids_renormalise_once():
    once = torch.tensor([[3.0, 4.0], [6.0, 8.0]])
    many = once.clone()
    embedding(torch.tensor([0, 1]), once, max_norm=1.0)
    embedding(torch.tensor([[0, 1, 0], [1, 0, 0]]), many, max_norm=1.0)
    assert torch.equal(once, many)
    assert torch.linalg.vector_norm(many, dim=1).tolist() == pytest.approx([1.0, 1.0], rel=1e-6)


def test_unreferenced_rows_are_untouched_and_padding_row_is_renormed():
    weight = torch.full((4, 2), 10.0)
    embedding(torch.tensor([1, 3]), weight, padding_idx=3, max_norm=1.0)
    assert weight[0].tolist() == [10.0, 10.0]
    assert weight[2].tolist() == [10.0, 10.0]
    assert weight[1].tolist() == pytest.approx([0.5**0.5] * 2, rel=1e-6)
    assert weight[3].tolist() == pytest.approx([0.5**0.5] * 2, rel=1e-6)


def test_max_norm_zero_zeroes_rows_and_keeps_zero_rows():
    weight = torch.tensor([[1.0, -2.0], [0.0, 0.0], [5.0, 5.0]])
    reference = weight.clone()
    out = embedding(torch.tensor([0, 1]), weight, max_norm=0.0)
    F.embedding(torch.tensor([0, 1]), reference, max_norm=0.0)
    assert weight[:2].tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert weight[2].tolist() == [5.0, 5.0]
    assert torch.equal(torch.signbit(weight), torch.signbit(reference))
    assert torch.equal(out, weight[:2])


def test_empty_input_is_a_no_op():
    weight = torch.tensor([[3.0, 4.0]])
    out = embedding(torch.empty(0, 2, dtype=torch.long), weight, max_norm=0.0)
    assert weight.tolist() == [[3.0, 4.0]]
    assert out.shape == (0, 2, 2)


def test_lookup_reads_the_renormalised_rows():
    weight = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    out = embedding(torch.tensor([[0], [1]]), weight, max_norm=2.0)
    assert torch.equal(out[:, 0], weight)


def test_renorm_is_invisible_to_autograd():
    weight = torch.tensor([[3.0, 4.0], [0.1, 0.1]], requires_grad=True)
    out = embedding(torch.tensor([0, 0, 1]), weight, max_norm=1.0)
    out.backward(torch.ones_like(out))
    assert weight.grad.tolist() == [[2.0, 2.0], [1.0, 1.0]]
    assert weight.detach()[0].tolist() == pytest.approx([0.6, 0.8], abs=1e-6)


def test_layer_renormalises_its_parameter_in_place():
    layer = Embedding(3, 2, max_norm=1.0, _weight=torch.tensor([[3.0, 4.0], [0, 2], [0, 9]]))
    layer(torch.tensor([1]))
    assert layer.weight.detach().tolist() == [[3.0, 4.0], pytest.approx([0.0, 1.0], abs=1e-6),
                                              [0.0, 9.0]]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, 1.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.0, 0.3, 1.0, 4.0])
def test_bitwise_equal_to_torch_cpu(dtype, norm_type, max_norm):
    gen = torch.Generator().manual_seed(7)
    for dim in (1, 3, 8, 17, 64, 129):
        weight = (3 * torch.randn(20, dim, generator=gen)).to(dtype)
        ids = torch.randint(0, 20, (5, 7), generator=gen)
        ours, theirs = weight.clone(), weight.clone()
        out = embedding(ids, ours, max_norm=max_norm, norm_type=norm_type)
        expected = F.embedding(ids, theirs, max_norm=max_norm, norm_type=norm_type)
        assert torch.equal(ours, theirs)
        assert torch.equal(torch.signbit(ours), torch.signbit(theirs))
        assert torch.equal(out, expected)


@pytest.mark.parametrize("max_norm", [-1.0, -1e-30, math.nan, math.inf, -math.inf, "1", True])
def test_bad_max_norm_is_value_error(max_norm):
    weight = torch.ones(2, 2)
    with pytest.raises(ValueError, match="max_norm"):
        embedding(torch.tensor([0]), weight, max_norm=max_norm)
    with pytest.raises(ValueError, match="max_norm"):
        Embedding(2, 2, max_norm=max_norm)
    assert weight.tolist() == [[1.0, 1.0], [1.0, 1.0]]


@pytest.mark.parametrize("norm_type", [0.0, -2.0, math.nan, -math.inf, "2", None])
def test_bad_norm_type_is_value_error(norm_type):
    weight = torch.ones(2, 2)
    with pytest.raises(ValueError, match="norm_type"):
        embedding(torch.tensor([0]), weight, max_norm=1.0, norm_type=norm_type)
    with pytest.raises(ValueError, match="norm_type"):
        Embedding(2, 2, max_norm=1.0, norm_type=norm_type)
    assert weight.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_renorm_requires_a_max_norm():
    with pytest.raises(ValueError, match="max_norm"):
        renorm_(torch.ones(2, 2), torch.tensor([0]), None)
