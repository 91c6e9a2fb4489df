"""The eager binary family: the vectorised packing against hand-worked tables, and the
forward (packed rows of the input only) against the packed full table."""

from __future__ import annotations

import pytest
import torch
from embedspec.backends.contract import BuildContext
from embedspec.backends.eager import EagerBackend
from embedspec.backends.eager.binary import (
    EagerBinaryEmbedding,
    pack,
    pack_bits,
    unpack_signs,
)
from embedspec.reference.configs import BinaryConfig


def test_pack_bits_is_lsb_first_with_unused_bits_zero() -> None:
    bits = torch.tensor([
        [1, 0, 1, 1, 0, 0, 0, 0, 1],  # byte 0: bits 0, 2, 3 -> 13; byte 1: bit 0 -> 1
        [0, 0, 0, 0, 0, 0, 0, 1, 0],  # bit 7 -> 128; nothing in byte 1
        [1, 1, 1, 1, 1, 1, 1, 1, 1],  # 255; byte 1 only its one real bit
    ], dtype=torch.bool)
    assert torch.equal(pack_bits(bits), torch.tensor([[13, 1], [128, 0], [255, 1]],
                                                     dtype=torch.uint8))


def test_pack_bits_of_no_columns() -> None:
    assert pack_bits(torch.zeros(3, 0, dtype=torch.bool)).shape == (3, 0)


def test_unpack_signs_inverts_pack_bits() -> None:
    bits = torch.rand(17, 21, generator=torch.Generator().manual_seed(0)) > 0.5
    signs = unpack_signs(pack_bits(bits), 21)
    assert torch.equal(signs, torch.where(bits, 1.0, -1.0))


def test_packed_form_of_a_hand_worked_table() -> None:
    layer = EagerBinaryEmbedding(3, 3, padding_idx=1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.0, -1.0, 2.0], [5.0, -5.0, 5.0], [-0.5, -0.25, 1.0]]))
    qweight, scale = layer.packed()
    # row 0: 0 >= 0 and 2 >= 0 -> bits 0 and 2 -> 5; row 1 is padding: all real bits set
    assert torch.equal(qweight, torch.tensor([[5], [7], [4]], dtype=torch.uint8))
    assert scale.dtype == torch.float32
    assert torch.equal(scale, torch.tensor([1.0, 0.0, 1.75 / 3], dtype=torch.float32))


def test_centred_packing_subtracts_the_mean_of_the_whole_table() -> None:
    weight = torch.tensor([[1.0, 2.0], [3.0, 6.0]])  # mean 3
    qweight, scale = pack(weight, centre=True)
    assert torch.equal(qweight, torch.tensor([[0], [3]], dtype=torch.uint8))
    assert torch.equal(scale, torch.tensor([1.5, 1.5]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("centre", [False, True])
def test_forward_equals_the_lookup_of_the_packed_table(dtype: torch.dtype, centre: bool) -> None:
    torch.manual_seed(0)
    layer = EagerBackend().build(BinaryConfig(40, 19, padding_idx=-3, centre=centre,
                                              dtype=dtype), BuildContext())
    ids = torch.randint(0, 40, (4, 9))
    ids[0, 0] = 37  # the padding row
    out = layer(ids)
    qweight, scale = layer.packed()
    expected = (unpack_signs(qweight, 19) * scale.unsqueeze(1))[ids].to(dtype)
    assert out.dtype == dtype
    assert torch.equal(out, expected)
    assert torch.equal(layer.forward_packed(ids), out)
    assert torch.equal(out[0, 0], torch.zeros(19, dtype=dtype))
    assert not torch.signbit(out[0, 0]).any()


def test_straight_through_gradient() -> None:
    torch.manual_seed(0)
    layer = EagerBinaryEmbedding(6, 5, padding_idx=2, dtype=torch.float64)
    ids = torch.tensor([[1, 2, 1], [4, 2, 1]])
    grad = torch.randn(2, 3, 5, dtype=torch.float64)
    grad[0, 1] = float("inf")  # a padding position: its row still gets exact zeros
    layer(ids).backward(grad)
    scale = layer.packed().scale.double()
    expected = torch.zeros(6, 5, dtype=torch.float64)
    expected[1] = scale[1] * (grad[0, 0] + grad[0, 2] + grad[1, 2])
    expected[4] = scale[4] * grad[1, 0]
    torch.testing.assert_close(layer.weight.grad, expected, rtol=1e-15, atol=0)
    assert torch.equal(layer.weight.grad[2], torch.zeros(5, dtype=torch.float64))


def test_forward_follows_weight_updates() -> None:
    layer = EagerBinaryEmbedding(4, 3)
    ids = torch.tensor([0, 1])
    first = layer(ids)
    with torch.no_grad():
        layer.weight.neg_()
    assert torch.equal(layer(ids), -first)
