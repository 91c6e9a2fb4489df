"""The binary embedding layer and its functional forms (S5, with the shared rules of S0)."""

from __future__ import annotations

import pytest
import torch
from embedspec.reference.binary import (
    BinaryEmbedding,
    binary_embedding,
    binary_embedding_packed,
    pack,
)
from embedspec.reference.configs import BinaryConfig, EmbeddingConfig


def _layer(num_embeddings: int = 6, embedding_dim: int = 10, seed: int = 0,
           **kwargs: object) -> BinaryEmbedding:
    torch.manual_seed(seed)
    return BinaryEmbedding(num_embeddings, embedding_dim, **kwargs)


def test_forward_by_hand() -> None:
    layer = _layer(3, 10)
    with torch.no_grad():
        layer.weight[1] = torch.tensor([0.0, -1.0, 2.0, -0.0, -4.0, -5.0, 6.0, -7.0, -8.0, 7.0])
    out = layer(torch.tensor([1]))
    expected = 4.0 * torch.tensor([[1.0, -1, 1, 1, -1, -1, 1, -1, -1, 1]])
    assert torch.equal(out, expected)


@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3), (2, 0, 4), (3, 1, 2, 2)])
def test_output_shape_and_freshness(shape: tuple[int, ...]) -> None:
    layer = _layer()
    ids = torch.randint(0, 6, shape)
    out = layer(ids)
    assert out.shape == (*shape, 10)
    assert out.dtype == torch.float32
    before = layer.weight.detach().clone()
    out.detach().fill_(123.0)
    assert torch.equal(layer.weight.detach(), before)


def test_non_contiguous_and_int32_indices() -> None:
    layer = _layer()
    ids = torch.randint(0, 6, (4, 5)).t()
    assert not ids.is_contiguous()
    expected = layer(ids.contiguous())
    assert torch.equal(layer(ids), expected)
    assert torch.equal(layer(ids.int()), expected)
    assert torch.equal(layer.forward_packed(ids.int()), expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("centre", [False, True])
@pytest.mark.parametrize("dim", [1, 8, 10, 17])
def test_packed_and_latent_paths_agree(dtype: torch.dtype, centre: bool, dim: int) -> None:
    layer = _layer(9, dim, padding_idx=3, centre=centre, dtype=dtype)
    ids = torch.randint(0, 9, (4, 7))
    latent = layer(ids)
    packed = layer.forward_packed(ids)
    assert latent.dtype == packed.dtype == dtype
    assert torch.equal(latent, packed)
    qweight, scale = layer.packed()
    assert torch.equal(binary_embedding_packed(ids, qweight, scale, dim, dtype), latent)


def test_output_is_scale_times_sign_cast_once() -> None:
    layer = _layer(5, 12, dtype=torch.float64)
    _, scale = layer.packed()
    weight = layer.weight.detach()
    ids = torch.arange(5)
    signs = torch.where(weight >= 0, 1.0, -1.0).double()
    assert torch.equal(layer(ids), signs * scale.double()[:, None])
    half = _layer(5, 12, dtype=torch.float16)
    _, half_scale = half.packed()
    half_signs = torch.where(half.weight.detach() >= 0, 1.0, -1.0)
    assert torch.equal(half(ids), (half_signs * half_scale[:, None]).half())


@pytest.mark.parametrize("dim", [3, 8, 10, 16])
@pytest.mark.parametrize("centre", [False, True])
def test_padding_row_outputs_exact_positive_zeros(dim: int, centre: bool) -> None:
    layer = _layer(4, dim, padding_idx=-2, centre=centre)
    assert layer.padding_idx == 2
    with torch.no_grad():
        layer.weight[2] = -3.0  # even a non-zero stored padding row outputs zeros
    for forward in (layer.forward, layer.forward_packed):
        out = forward(torch.tensor([2, 0, 2]))
        assert torch.equal(out[0], torch.zeros(dim))
        assert not torch.signbit(out[0]).any()
        assert torch.equal(out[2], out[0])
        assert out[1].abs().min() > 0


def test_init_normal_with_zero_padding_row() -> None:
    layer = _layer(400, 50, padding_idx=7)
    weight = layer.weight.detach()
    assert torch.equal(weight[7], torch.zeros(50))
    assert abs(weight.mean().item()) < 0.02
    assert abs(weight.std().item() - 1.0) < 0.02
    assert list(layer.state_dict()) == ["weight"]
    assert layer.weight.requires_grad


def test_straight_through_gradient_by_hand() -> None:
    layer = _layer(4, 3, padding_idx=0)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[5.0, 5.0, 5.0],
                                         [1.0, -2.0, 3.0],
                                         [-4.0, 0.0, 2.0],
                                         [1.0, 1.0, 1.0]]))
    # scales: padding 0, row 1 -> 2, row 2 -> 2, row 3 -> 1
    ids = torch.tensor([[1, 0], [1, 2]])
    grad_out = torch.tensor([[[1.0, 2.0, 3.0], [9.0, 9.0, 9.0]],
                             [[0.5, -1.0, 0.0], [1.0, 1.0, 1.0]]])
    layer(ids).backward(grad_out)
    expected = torch.tensor([[0.0, 0.0, 0.0],
                             [2.0 * 1.5, 2.0 * 1.0, 2.0 * 3.0],
                             [2.0, 2.0, 2.0],
                             [0.0, 0.0, 0.0]])
    assert torch.equal(layer.weight.grad, expected)


def test_padding_gradient_is_zero_even_for_non_finite_grads() -> None:
    layer = _layer(3, 4, padding_idx=1)
    grad = torch.full((2, 4), float("inf"))
    layer(torch.tensor([1, 1])).backward(grad)
    assert torch.equal(layer.weight.grad, torch.zeros(3, 4))


def test_gradient_ignores_centring_and_scale_dependence() -> None:
    for centre in (False, True):
        layer = _layer(5, 6, centre=centre)
        ids = torch.tensor([0, 3, 3])
        grad_out = torch.randn(3, 6)
        layer(ids).backward(grad_out)
        _, scale = layer.packed()
        expected = torch.zeros(5, 6)
        expected[0] = scale[0] * grad_out[0]
        expected[3] = scale[3] * (grad_out[1] + grad_out[2])
        torch.testing.assert_close(layer.weight.grad, expected, rtol=1e-6, atol=0)


def test_gradient_dtype_and_no_grad_packed_path() -> None:
    layer = _layer(5, 6, dtype=torch.bfloat16)
    layer(torch.tensor([1, 2])).sum().backward()
    assert layer.weight.grad.dtype == torch.bfloat16
    assert not layer.forward_packed(torch.tensor([1])).requires_grad


def test_functional_latent_path() -> None:
    torch.manual_seed(3)
    weight = torch.randn(5, 9, requires_grad=True)
    ids = torch.tensor([[4, 0, 2]])
    out = binary_embedding(ids, weight, padding_idx=-1, dtype=torch.float64)
    assert out.dtype == torch.float64
    qweight, scale = pack(weight, 4)
    assert torch.equal(out, binary_embedding_packed(ids, qweight, scale, 9, torch.float64))
    assert torch.equal(out[0, 0], torch.zeros(9, dtype=torch.float64))
    out.sum().backward()
    assert weight.grad.dtype == torch.float32
    assert torch.equal(weight.grad[4], torch.zeros(9))
    assert torch.equal(binary_embedding(ids, weight, padding_idx=4), out.float())


def test_from_config() -> None:
    config = BinaryConfig(num_embeddings=7, embedding_dim=5, padding_idx=-1, centre=True,
                          dtype=torch.float64)
    layer = BinaryEmbedding.from_config(config, device="cpu")
    assert (layer.num_embeddings, layer.embedding_dim, layer.padding_idx) == (7, 5, 6)
    assert layer.centre is True
    assert layer.weight.dtype == torch.float64 and layer.dtype == torch.float64
    assert layer.weight.device.type == "cpu"
    with pytest.raises(TypeError, match="BinaryConfig"):
        BinaryEmbedding.from_config(EmbeddingConfig(num_embeddings=7, embedding_dim=5))


def test_empty_tables() -> None:
    layer = BinaryEmbedding(0, 4)
    assert layer(torch.empty(0, dtype=torch.long)).shape == (0, 4)
    layer = BinaryEmbedding(3, 0)
    assert layer(torch.tensor([1, 2])).shape == (2, 0)
    assert layer.forward_packed(torch.tensor([1, 2])).shape == (2, 0)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"num_embeddings": -1}, "num_embeddings"),
        ({"num_embeddings": 2.5}, "num_embeddings"),
        ({"embedding_dim": -3}, "embedding_dim"),
        ({"embedding_dim": "4"}, "embedding_dim"),
        ({"padding_idx": 6}, "padding_idx"),
        ({"padding_idx": -7}, "padding_idx"),
        ({"padding_idx": 1.5}, "padding_idx"),
        ({"padding_idx": True}, "padding_idx"),
        ({"centre": "yes"}, "centre"),
        ({"dtype": torch.int64}, "dtype"),
        ({"dtype": None}, "dtype"),
    ],
)
def test_bad_configuration(kwargs: dict, argument: str) -> None:
    arguments = {"num_embeddings": 6, "embedding_dim": 4, **kwargs}
    with pytest.raises(ValueError, match=argument):
        BinaryEmbedding(**arguments)


@pytest.mark.parametrize("dtype", [torch.int16, torch.uint8, torch.int8, torch.bool,
                                   torch.float32])
def test_index_dtype_type_error(dtype: torch.dtype) -> None:
    layer = _layer()
    ids = torch.tensor([0, 1]).to(dtype)
    for forward in (layer.forward, layer.forward_packed):
        with pytest.raises(TypeError, match="int32 or int64"):
            forward(ids)
    qweight, scale = layer.packed()
    with pytest.raises(TypeError):
        binary_embedding_packed(ids, qweight, scale, 10)
    with pytest.raises(TypeError):
        layer([0, 1])


@pytest.mark.parametrize("bad", [-1, 6, 100])
@pytest.mark.parametrize("centre", [False, True])
def test_out_of_range_ids_are_index_errors_and_atomic(bad: int, centre: bool) -> None:
    layer = _layer(centre=centre, padding_idx=0)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    ids = torch.tensor([[0, 1], [bad, 5]])
    for forward in (layer.forward, layer.forward_packed):
        with pytest.raises(IndexError, match=str(bad)):
            forward(ids)
    qweight, scale = layer.packed()
    with pytest.raises(IndexError):
        binary_embedding_packed(ids, qweight, scale, 10)
    for key, value in layer.state_dict().items():
        assert torch.equal(value, before[key])
    assert layer.weight.grad is None


def test_packed_functional_validation() -> None:
    layer = _layer(4, 10)
    qweight, scale = layer.packed()
    ids = torch.tensor([0, 3])
    cases = [
        ((ids, qweight.int(), scale, 10), "uint8"),
        ((ids, qweight, scale, 9), "embedding_dim=9"),
        ((ids, qweight, scale.double(), 10), "float32"),
        ((ids, qweight, scale[:3], 10), "shape"),
        ((ids, qweight, scale, 10, torch.int32), "dtype"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            binary_embedding_packed(*args)
    stray = qweight.clone()
    stray[2, 1] |= 0b100
    with pytest.raises(ValueError, match="unused bits"):
        binary_embedding_packed(ids, stray, scale, 10)


def test_functional_latent_validation() -> None:
    weight = torch.randn(4, 5, requires_grad=True)
    ids = torch.tensor([1])
    with pytest.raises(ValueError, match="padding_idx"):
        binary_embedding(ids, weight, padding_idx=4)
    with pytest.raises(ValueError, match="centre"):
        binary_embedding(ids, weight, centre=None)
    with pytest.raises(ValueError, match="dtype"):
        binary_embedding(ids, weight, dtype=torch.int64)
    with pytest.raises(ValueError, match="weight"):
        binary_embedding(ids, weight.detach().long())
    with pytest.raises(IndexError):
        binary_embedding(torch.tensor([4]), weight)


def test_forward_is_deterministic() -> None:
    layer = _layer(50, 33, centre=True)
    ids = torch.randint(0, 50, (8, 16))
    first = layer(ids)
    for _ in range(3):
        assert torch.equal(layer(ids), first)
        assert torch.equal(layer.forward_packed(ids), first)


def test_backward_with_zero_embedding_dim_gives_an_empty_gradient():
    layer = BinaryEmbedding(7, 0)
    layer(torch.tensor([1, 2])).backward(torch.zeros(2, 0))
    assert layer.weight.grad.shape == (7, 0)


def test_a_device_that_does_not_parse_is_a_value_error():
    with pytest.raises(ValueError, match="device"):
        BinaryEmbedding(4, 8, device="no-such-device")
