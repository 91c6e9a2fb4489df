"""The Triton kernels against torch and the reference, through the interpreter on CPU
(natively on CUDA): gathers and packs bitwise, renorm bitwise where the norm is exact,
gradients within the accumulation bound and, for the deterministic one, repeatable."""

from __future__ import annotations

import pytest
import torch
from embedspec.backends.eager.binary import pack as eager_pack
from embedspec.backends.triton.kernels.backward_atomic import dense_grad_atomic
from embedspec.backends.triton.kernels.backward_deterministic import dense_grad_deterministic
from embedspec.backends.triton.kernels.binary_lookup import unpack
from embedspec.backends.triton.kernels.binary_pack import pack_rows
from embedspec.backends.triton.kernels.gather import gather_rows
from embedspec.backends.triton.kernels.layer_norm import layer_norm_backward, layer_norm_forward
from embedspec.backends.triton.kernels.renorm import renorm_
from embedspec.backends.triton.runtime import runtime
from embedspec.reference.embedding_functional import dense_weight_grad
from embedspec.reference.embedding_functional import renorm_ as reference_renorm_

DEVICE = torch.device(runtime().device)
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def assert_bitwise(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert torch.equal(_bits(actual.cpu()), _bits(expected.cpu()))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("dim", [1, 7, 33, 130, 20_000])
def test_gather_is_bitwise_for_any_width_and_strides(dtype, index_dtype, dim):
    """Every column, the masked tail of the last tile included (20 000 columns are two
    interpreter tiles, 130 are two GPU tiles), from a column slice of a wider table."""
    generator = torch.Generator().manual_seed(dim)
    wide = torch.randn(5, dim + 3, generator=generator).to(dtype)
    table = wide[:, 2:2 + dim].to(DEVICE)
    ids = torch.tensor([4, 0, 4, 2, 1, 3, 3], dtype=index_dtype, device=DEVICE)
    assert_bitwise(gather_rows(ids, table), table.index_select(0, ids.long()))


def _integer_rows(dtype: torch.dtype, rows: int, dim: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(rows * 100 + dim)
    return torch.randint(-3, 4, (rows, dim), generator=generator).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [1.0, 2.0, float("inf")], ids=["p1", "p2", "pinf"])
@pytest.mark.parametrize("max_norm", [0.0, 0.7, 2.5, 5.0])
@pytest.mark.parametrize("float64_norms", [False, True])
def test_renorm_is_bitwise_the_reference_where_norms_are_exact(dtype, norm_type, max_norm,
                                                               float64_norms):
    """Small integer rows have exact norms in any summation order, so the rest of the
    rule (rounding of the norm, float64 factor rounded to the dtype, rounded products,
    strict comparison, each referenced row once) is checked bit for bit."""
    weight = _integer_rows(dtype, 9, 11)
    expected = weight.clone()
    ids = torch.tensor([3, 0, 3, 8, 5, 5, 5, 1])
    reference_renorm_(expected, ids, max_norm, norm_type)
    actual = weight.to(DEVICE)
    renorm_(actual, ids.to(DEVICE), max_norm, norm_type, float64_norms)
    assert_bitwise(actual, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_renorm_with_general_p_is_within_rounding(dtype):
    weight = torch.randn(6, 9, generator=torch.Generator().manual_seed(3)).to(dtype)
    expected = weight.clone()
    ids = torch.tensor([0, 2, 2, 5])
    reference_renorm_(expected, ids, 0.5, 3.0)
    actual = weight.to(DEVICE)
    renorm_(actual, ids.to(DEVICE), 0.5, 3.0)
    untouched = [1, 3, 4]
    assert_bitwise(actual[untouched].cpu(), weight[untouched])
    torch.testing.assert_close(actual.cpu(), expected, rtol=4 * torch.finfo(dtype).eps, atol=0)


def _grad_case(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    ids = torch.tensor([2, 7, 2, 0, 7, 7, 3, 2, 9], device=DEVICE)
    grad = torch.randn(ids.shape[0], 13, generator=generator).to(dtype).to(DEVICE)
    return grad, ids


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding_idx", [-1, 7])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
@pytest.mark.parametrize("launcher", [dense_grad_atomic, dense_grad_deterministic],
                         ids=["atomic", "deterministic"])
def test_dense_gradients_follow_the_reference(dtype, padding_idx, scale_grad_by_freq,
                                              launcher):
    """Within float32 accumulation rounding of the reference; rows with one contribution
    (0, 3, 9) and rows without any (1, 4, ...) exact; the padding row exactly zero."""
    grad, ids = _grad_case(dtype)
    actual = launcher(grad, ids, None, 11, padding_idx, scale_grad_by_freq).cpu()
    expected = dense_weight_grad(grad.cpu(), ids.cpu(), 11,
                                 None if padding_idx < 0 else padding_idx, scale_grad_by_freq)
    exact_rows = [0, 1, 3, 4, 5, 6, 8, 9, 10] + ([7] if padding_idx >= 0 else [])
    assert_bitwise(actual[exact_rows], expected[exact_rows])
    tolerance = 8 * torch.finfo(dtype).eps
    torch.testing.assert_close(actual, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", DTYPES)
def test_deterministic_gradient_repeats_bitwise_and_takes_a_row_scale(dtype):
    grad, ids = _grad_case(dtype)
    scale = torch.rand(ids.shape[0], generator=torch.Generator().manual_seed(1)).to(DEVICE)
    first = dense_grad_deterministic(grad, ids, scale, 11, -1, False)
    assert_bitwise(dense_grad_deterministic(grad, ids, scale, 11, -1, False), first)
    expected = dense_grad_atomic(grad, ids, scale, 11, -1, False)
    tolerance = 8 * torch.finfo(dtype).eps
    torch.testing.assert_close(first, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dim", [1, 8, 13, 70])
@pytest.mark.parametrize("centre", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pack_and_unpack_match_the_eager_binary_layer(dim, centre, dtype):
    weight = torch.randn(6, dim, generator=torch.Generator().manual_seed(dim)).to(dtype)
    want_q, want_scale = eager_pack(weight, 2, centre=centre)
    centre_value = weight.double().mean() if centre else None
    rows = torch.arange(6, device=DEVICE)
    q, scale = pack_rows(weight.to(DEVICE), rows, 2,
                         None if centre_value is None else centre_value.to(DEVICE))
    assert torch.equal(q.cpu(), want_q)
    torch.testing.assert_close(scale.cpu(), want_scale, rtol=2e-7, atol=0)
    ids = torch.tensor([5, 2, 0, 5], device=DEVICE)
    out = unpack(q, scale, dim, dtype, ids).cpu()
    signs = torch.where(out.float() >= 0, 1.0, -1.0)
    assert_bitwise(out, (signs * scale.cpu()[ids.cpu()].unsqueeze(1)).to(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_forward_and_backward_match_torch(dtype):
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    generator = torch.Generator().manual_seed(7)
    x = (torch.randn(5, 11, generator=generator) * 3 + 1).to(dtype)
    gamma = torch.rand(11, generator=generator, dtype=compute) + 0.5
    beta = torch.randn(11, generator=generator, dtype=compute)
    dy = torch.randn(5, 11, generator=generator).to(dtype)
    leaf = [t.clone().requires_grad_() for t in (x.to(compute), gamma, beta)]
    want = torch.nn.functional.layer_norm(leaf[0], (11,), leaf[1], leaf[2], 1e-5)
    want.backward(dy.to(compute))
    y, mean, rstd = layer_norm_forward(x.to(DEVICE), gamma.to(DEVICE), beta.to(DEVICE), 1e-5)
    grads = layer_norm_backward(dy.to(DEVICE), x.to(DEVICE), gamma.to(DEVICE), mean, rstd)
    tolerance = 64 * torch.finfo(dtype).eps
    torch.testing.assert_close(y.cpu(), want.detach().to(dtype), rtol=tolerance, atol=tolerance)
    for got, expected in zip(grads, (leaf[0].grad.to(dtype), leaf[1].grad, leaf[2].grad),
                             strict=True):
        torch.testing.assert_close(got.cpu(), expected, rtol=tolerance, atol=tolerance)
