"""The packed binary form (S5): bit layout, scale, padding row, centring, validation."""

from __future__ import annotations

import pytest
import torch
from embedspec.reference.binary_packing import PackedBinary, pack, packed_dim, unpack

# A D = 10 row holding a zero, a negative zero and negatives, with its bytes worked out by
# hand. Bits (w >= 0), column 0 first: 1 0 1 1 0 0 1 0 | 0 1.
# byte 0 = 2**0 + 2**2 + 2**3 + 2**6 = 1 + 4 + 8 + 64 = 77; byte 1 = 2**1 = 2 (bits 2-7 unused).
HAND_ROW = [0.0, -1.0, 2.0, -0.0, -4.0, -5.0, 6.0, -7.0, -8.0, 7.0]
HAND_BYTES = [77, 2]
HAND_SCALE = (0 + 1 + 2 + 0 + 4 + 5 + 6 + 7 + 8 + 7) / 10  # 4.0, exact in float32


def test_hand_packed_row() -> None:
    qweight, scale = pack(torch.tensor([HAND_ROW]))
    assert qweight.dtype == torch.uint8
    assert qweight.tolist() == [HAND_BYTES]
    assert scale.dtype == torch.float32
    assert scale.tolist() == [HAND_SCALE]


def test_bit_order_is_lsb_first_per_byte() -> None:
    # Only element 8j + i non-negative -> byte j holds exactly 2**i.
    dim = 20
    for col in range(dim):
        row = -torch.ones(1, dim)
        row[0, col] = 1.0
        qweight, _ = pack(row)
        expected = [0] * packed_dim(dim)
        expected[col // 8] = 1 << (col % 8)
        assert qweight.tolist() == [expected], col


def test_result_is_a_named_tuple() -> None:
    packed = pack(torch.randn(3, 5))
    assert isinstance(packed, PackedBinary)
    assert packed.qweight is packed[0] and packed.scale is packed[1]


@pytest.mark.parametrize("dim", [0, 1, 7, 8, 9, 15, 16, 17, 33])
def test_shapes_and_unused_bits_zero(dim: int) -> None:
    weight = torch.full((4, dim), 5.0)  # every real bit set
    qweight, scale = pack(weight)
    assert qweight.shape == (4, -(-dim // 8))
    assert scale.shape == (4,)
    if dim % 8:
        assert qweight[:, -1].tolist() == [(1 << (dim % 8)) - 1] * 4
    if dim >= 8:
        assert (qweight[:, : dim // 8] == 255).all()


def test_scale_is_mean_abs_over_real_columns_only() -> None:
    # D = 3: upstream would average over 8 columns with 5 padding -1 columns.
    qweight, scale = pack(torch.tensor([[3.0, -6.0, 0.0]]))
    assert scale.tolist() == [3.0]
    assert qweight.tolist() == [[0b101]]


def test_scale_is_float64_mean_rounded_once() -> None:
    torch.manual_seed(0)
    weight = torch.randn(6, 37, dtype=torch.float64)
    _, scale = pack(weight)
    assert torch.equal(scale, (weight.abs().sum(1) / 37).float())


def test_empty_dimension_has_zero_scale() -> None:
    qweight, scale = pack(torch.empty(3, 0))
    assert qweight.shape == (3, 0)
    assert scale.tolist() == [0.0, 0.0, 0.0]
    qweight, scale = pack(torch.empty(0, 5))
    assert qweight.shape == (0, 1) and scale.shape == (0,)


@pytest.mark.parametrize("dim", [3, 8, 10, 16])
@pytest.mark.parametrize("padding_idx", [0, 2, -1])
def test_padding_row_packs_as_zero(dim: int, padding_idx: int) -> None:
    torch.manual_seed(1)
    weight = -torch.rand(3, dim) - 0.5  # the padding row holds negatives
    qweight, scale = pack(weight, padding_idx)
    row = padding_idx % 3
    assert scale[row].item() == 0.0
    assert torch.equal(unpack(qweight, dim)[row], torch.ones(dim))
    others = [r for r in range(3) if r != row]
    assert (scale[others] > 0).all()
    assert (qweight[others] == 0).all()


def test_pack_does_not_touch_weight_or_graph() -> None:
    weight = torch.randn(4, 9, requires_grad=True)
    before = weight.detach().clone()
    qweight, scale = pack(weight, 1, centre=True)
    assert torch.equal(weight.detach(), before)
    assert not qweight.requires_grad and not scale.requires_grad


def test_centre_subtracts_the_global_mean() -> None:
    weight = torch.tensor([[0.0, 2.0], [3.0, 11.0]])  # mean 4: centred [[-4, -2], [-1, 7]]
    qweight, scale = pack(weight, centre=True)
    assert unpack(qweight, 2).tolist() == [[-1, -1], [-1, 1]]
    assert scale.tolist() == [3.0, 4.0]
    qweight, scale = pack(weight)
    assert unpack(qweight, 2).tolist() == [[1, 1], [1, 1]]
    assert scale.tolist() == [1.0, 7.0]


def test_centre_mean_includes_padding_row_which_still_packs_as_zero() -> None:
    weight = torch.tensor([[0.0, 0.0], [4.0, 8.0]])  # mean 3, padding row 0 included
    qweight, scale = pack(weight, padding_idx=0, centre=True)
    assert scale.tolist() == [0.0, 3.0]
    assert unpack(qweight, 2).tolist() == [[1, 1], [1, 1]]


def test_centre_bit_is_w_ge_mean_exactly() -> None:
    weight = torch.tensor([[1.0, 2.0], [2.0, 3.0]])  # mean exactly 2 -> 2.0 counts as +1
    qweight, _ = pack(weight, centre=True)
    assert unpack(qweight, 2).tolist() == [[-1, 1], [1, 1]]


def test_nan_packs_as_minus_one() -> None:
    qweight, scale = pack(torch.tensor([[float("nan"), 1.0]]))
    assert unpack(qweight, 2).tolist() == [[-1.0, 1.0]]
    assert scale.isnan().all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("dim", [1, 8, 13])
def test_round_trip(dtype: torch.dtype, dim: int) -> None:
    torch.manual_seed(2)
    weight = torch.randn(7, dim).to(dtype)
    qweight, scale = pack(weight)
    signs = unpack(qweight, dim)
    assert signs.dtype == torch.float32
    assert torch.equal(signs, torch.where(weight >= 0, 1.0, -1.0))
    assert torch.equal(pack(signs * scale[:, None]).qweight, qweight)
    assert torch.equal(pack(signs).qweight, qweight)


def test_unpack_hand_bytes() -> None:
    signs = unpack(torch.tensor([HAND_BYTES], dtype=torch.uint8), 10)
    assert signs.tolist() == [[1, -1, 1, 1, -1, -1, 1, -1, -1, 1]]


@pytest.mark.parametrize(
    ("qweight", "dim", "message"),
    [
        (torch.zeros(2, 2, dtype=torch.int8), 10, "uint8"),
        (torch.zeros(2, 2), 10, "uint8"),
        (torch.zeros(4, dtype=torch.uint8), 10, "2-D"),
        (torch.zeros(2, 2, dtype=torch.uint8), 17, "embedding_dim=17"),
        (torch.zeros(2, 2, dtype=torch.uint8), 8, "embedding_dim=8"),
        (torch.zeros(2, 2, dtype=torch.uint8), -1, "embedding_dim"),
        (torch.zeros(2, 2, dtype=torch.uint8), 10.0, "embedding_dim"),
        (torch.zeros(2, 2, dtype=torch.uint8), True, "embedding_dim"),
        ([[0, 0]], 10, "qweight"),
    ],
)
def test_unpack_rejects_bad_input(qweight: object, dim: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        unpack(qweight, dim)


def test_unpack_rejects_nonzero_unused_bits() -> None:
    qweight = torch.tensor([[255, 3], [255, 4]], dtype=torch.uint8)  # D = 10 uses bits 0-1
    with pytest.raises(ValueError, match="row 1 has nonzero unused bits"):
        unpack(qweight, 10)
    assert unpack(qweight[:1], 10).shape == (1, 10)
    # With D a multiple of 8 every bit is used.
    assert unpack(torch.tensor([[255, 4]], dtype=torch.uint8), 16).shape == (1, 16)


@pytest.mark.parametrize(
    ("weight", "kwargs", "message"),
    [
        (torch.zeros(2, 3, dtype=torch.int64), {}, "floating point"),
        (torch.zeros(6), {}, "2-D"),
        (torch.zeros(1, 2, 3), {}, "2-D"),
        ([[1.0]], {}, "tensor"),
        (torch.zeros(2, 3), {"padding_idx": 2}, "padding_idx"),
        (torch.zeros(2, 3), {"padding_idx": -3}, "padding_idx"),
        (torch.zeros(2, 3), {"padding_idx": 1.0}, "padding_idx"),
        (torch.zeros(2, 3), {"centre": 1}, "centre"),
    ],
)
def test_pack_rejects_bad_input(weight: object, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pack(weight, **kwargs)
