"""Forward of the embedding family: output (S0.1), index dtype (S0.2), out-of-range ids
(S0.3), determinism (S0.6) and agreement with ``torch.nn.functional.embedding``."""

import pytest
import torch
import torch.nn.functional as F
from embedspec.reference import Embedding, embedding, lookup

FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def table(rows: int = 6, cols: int = 3, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.arange(rows * cols, dtype=torch.float64).reshape(rows, cols).to(dtype)


def test_hand_computed_lookup():
    weight = table(4, 2)  # rows [0,1], [2,3], [4,5], [6,7]
    out = embedding(torch.tensor([[3, 0], [1, 1]]), weight)
    assert out.tolist() == [[[6.0, 7.0], [0.0, 1.0]], [[2.0, 3.0], [2.0, 3.0]]]


@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3), (2, 0, 4), (1, 2, 1, 3)])
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
def test_output_shape_is_index_shape_plus_dim(shape, index_dtype):
    weight = table()
    ids = torch.randint(0, 6, shape, generator=torch.Generator().manual_seed(0)).to(index_dtype)
    out = embedding(ids, weight)
    assert out.shape == (*shape, 3)
    assert torch.equal(out, weight[ids.long()])


def test_zero_dim_index_gives_one_row():
    out = embedding(torch.tensor(2), table())
    assert out.shape == (3,)
    assert out.tolist() == [6.0, 7.0, 8.0]


def test_non_contiguous_indices():
    ids = torch.tensor([[0, 1, 2], [3, 4, 5]]).t()
    assert not ids.is_contiguous()
    out = embedding(ids, table())
    assert torch.equal(out, F.embedding(ids.contiguous(), table()))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_output_dtype_and_device_follow_weight(dtype):
    weight = table(dtype=dtype)
    out = embedding(torch.tensor([1, 5]), weight)
    assert out.dtype == dtype
    assert out.device == weight.device


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_bitwise_equal_to_torch(dtype):
    gen = torch.Generator().manual_seed(3)
    weight = torch.randn(50, 7, generator=gen).to(dtype)
    ids = torch.randint(0, 50, (4, 9), generator=gen)
    assert torch.equal(embedding(ids, weight), F.embedding(ids, weight))


def test_output_is_a_fresh_tensor():
    weight = table()
    before = weight.clone()
    out = embedding(torch.tensor([0, 1, 1]), weight)
    out.add_(100.0)
    assert torch.equal(weight, before)
    assert out.untyped_storage().data_ptr() != weight.untyped_storage().data_ptr()


def test_fresh_tensor_through_the_layer():
    layer = Embedding(4, 2)
    before = layer.weight.detach().clone()
    with torch.no_grad():
        layer(torch.tensor([0, 3])).mul_(0)
    assert torch.equal(layer.weight, before)


def test_padding_row_is_returned_as_stored():
    weight = table()
    out = embedding(torch.tensor([2]), weight, padding_idx=2)
    assert out.tolist() == [[6.0, 7.0, 8.0]]


def test_zero_sized_tables():
    assert embedding(torch.empty(0, dtype=torch.long), torch.empty(0, 4)).shape == (0, 4)
    out = embedding(torch.tensor([[1, 2]]), torch.empty(3, 0))
    assert out.shape == (1, 2, 0)


def test_forward_is_deterministic():
    gen = torch.Generator().manual_seed(1)
    weight = torch.randn(100, 16, generator=gen)
    ids = torch.randint(0, 100, (64,), generator=gen)
    first = embedding(ids, weight)
    assert all(torch.equal(first, embedding(ids, weight)) for _ in range(3))


@pytest.mark.parametrize("bad", [torch.bool, torch.uint8, torch.int8, torch.int16,
                                 torch.float32, torch.float64])
@pytest.mark.parametrize("entry", [embedding, lookup])
def test_wrong_index_dtype_is_type_error(bad, entry):
    with pytest.raises(TypeError, match="int32 or int64"):
        entry(torch.zeros(3, dtype=bad), table())


def test_non_tensor_indices_are_type_error():
    with pytest.raises(TypeError):
        embedding([0, 1], table())
    with pytest.raises(TypeError):
        Embedding(4, 2)([0, 1])


@pytest.mark.parametrize("ids", [[6], [-1], [0, 7], [-7, 2]])
@pytest.mark.parametrize("entry", [embedding, lookup])
def test_out_of_range_ids_are_index_error(ids, entry):
    with pytest.raises(IndexError):
        entry(torch.tensor(ids), table())


def test_out_of_range_int32_and_zero_row_table():
    with pytest.raises(IndexError):
        embedding(torch.tensor([6], dtype=torch.int32), table())
    with pytest.raises(IndexError):
        embedding(torch.tensor([0]), torch.empty(0, 3))


def test_lookup_normalises_a_negative_padding_idx():
    weight = table().requires_grad_()
    lookup(torch.tensor([5, 1]), weight, padding_idx=-1).sum().backward()
    assert weight.grad[5].tolist() == [0.0, 0.0, 0.0]
    assert weight.grad[1].tolist() == [1.0, 1.0, 1.0]
