"""The eager kernels on whole tables and on column shards of a table.

A distributed backend composes these kernels with collectives, so each one must give,
on a column block of a table, exactly that block of what it gives on the whole table
(lookup and its gradient), or the per-shard piece of a whole-row reduction (norm terms).
"""

from __future__ import annotations

import math

import pytest
import torch
from embedspec.backends.eager import kernels
from embedspec.backends.eager.kernels import EagerKernels
from embedspec.backends.kernels import EmbeddingKernels
from embedspec.reference import sharded_norm

NORM_TYPES = (1.0, 2.0, 3.0, 0.5, 1.5, math.inf)
DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
# Column blocks of a 10-column table over 3 ranks (balanced), plus an empty block.
BLOCKS = ((0, 4), (4, 7), (7, 10), (10, 10))


@pytest.fixture
def table() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(12, 10, generator=generator, dtype=torch.float64) * 2


def test_eager_kernels_implement_the_protocol() -> None:
    assert isinstance(EagerKernels(), EmbeddingKernels)


@pytest.mark.parametrize("padding_idx", [None, 5])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
def test_lookup_on_a_column_shard_is_that_block_of_the_full_lookup(
        table: torch.Tensor, padding_idx: int | None, scale_grad_by_freq: bool) -> None:
    ids = torch.tensor([[5, 1, 1, 0], [11, 5, 1, 3]], dtype=torch.int32)
    grad = torch.randn(2, 4, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    full = table.clone().requires_grad_(True)
    EagerKernels().lookup(ids, full, padding_idx=padding_idx,
                          scale_grad_by_freq=scale_grad_by_freq).backward(grad)
    for start, end in BLOCKS:
        shard = table[:, start:end].clone().requires_grad_(True)
        out = EagerKernels().lookup(ids, shard, padding_idx=padding_idx,
                                    scale_grad_by_freq=scale_grad_by_freq)
        assert out.shape == (2, 4, end - start)
        assert torch.equal(out, table[:, start:end][ids.long()])
        out.backward(grad[..., start:end])
        assert torch.equal(shard.grad, full.grad[:, start:end])
    if padding_idx is not None:
        assert torch.count_nonzero(full.grad[padding_idx]) == 0


def test_lookup_gradient_counts_ids_over_the_whole_input(table: torch.Tensor) -> None:
    ids = torch.tensor([[2, 2], [2, 7]])
    weight = table.clone().requires_grad_(True)
    kernels.lookup(ids, weight, scale_grad_by_freq=True).backward(torch.ones(2, 2, 10,
                                                                            dtype=torch.float64))
    assert torch.equal(weight.grad[2], torch.ones(10, dtype=torch.float64))
    assert torch.equal(weight.grad[7], torch.ones(10, dtype=torch.float64))


def test_sparse_lookup_of_a_0d_index_with_padding() -> None:
    weight = torch.randn(4, 3, requires_grad=True)
    out = kernels.lookup(torch.tensor(2), weight, padding_idx=0, sparse=True)
    assert out.shape == (3,)
    out.backward(torch.ones(3))
    assert weight.grad.is_sparse
    assert torch.equal(weight.grad.to_dense()[2], torch.ones(3))


@pytest.mark.parametrize("norm_type", NORM_TYPES)
def test_norm_terms_of_the_shards_combine_into_the_full_row_norm(
        table: torch.Tensor, norm_type: float) -> None:
    rows = torch.tensor([0, 3, 11])
    terms = [EagerKernels().norm_terms(table[:, a:b], rows, norm_type) for a, b in BLOCKS]
    for t in terms:
        assert t.dtype == torch.float64 and t.shape == (3,)
    assert torch.count_nonzero(terms[-1]) == 0  # a rank without columns
    stacked = torch.stack(terms)
    combined = stacked.amax(0) if math.isinf(norm_type) else stacked.sum(0)
    norms = kernels.full_row_norms(combined, norm_type, table.dtype)
    expected = torch.linalg.vector_norm(table[rows], ord=norm_type, dim=1)
    torch.testing.assert_close(norms, expected, rtol=1e-13, atol=0)


def test_norm_terms_use_absolute_values() -> None:
    weight = -torch.ones(2, 3)
    for p in (1.0, 3.0, 5.0, math.inf):
        terms = kernels.norm_terms(weight, torch.tensor([0, 1]), p)
        expected = 1.0 if math.isinf(p) else 3.0
        assert torch.equal(terms, torch.full((2,), expected, dtype=torch.float64))


def test_scale_rows_casts_the_factor_to_the_weight_dtype_first() -> None:
    weight = torch.randn(4, 6).to(torch.float16).requires_grad_(True)
    before = weight.detach().clone()
    factors = torch.tensor([1 / 3, 0.1], dtype=torch.float64)
    EagerKernels().scale_rows_(weight, torch.tensor([3, 1]), factors)
    assert weight.grad_fn is None and weight.is_leaf
    half_factors = factors.to(torch.float16)
    assert torch.equal(weight[3].detach(), before[3] * half_factors[0])
    assert torch.equal(weight[1].detach(), before[1] * half_factors[1])
    assert torch.equal(weight[[0, 2]].detach(), before[[0, 2]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", NORM_TYPES)
def test_renorm_is_bit_exact_with_torch_embedding_renorm_on_cpu(
        dtype: torch.dtype, norm_type: float) -> None:
    generator = torch.Generator().manual_seed(3)
    weight = (torch.randn(64, 33, generator=generator) * 3).to(dtype)
    ids = torch.randint(0, 64, (5, 40), generator=generator)
    expected = weight.clone()
    torch.embedding_renorm_(expected, ids, 1.3, norm_type)
    kernels.renorm_(weight, ids, 1.3, norm_type)
    assert torch.equal(weight, expected)


def test_renorm_uses_absolute_values_and_leaves_other_rows_alone() -> None:
    weight = torch.tensor([[-3.0, -4.0], [3.0, 4.0], [-0.5, 0.5]])
    kernels.renorm_(weight, torch.tensor([0, 0, 2]), 1.0, 3.0)
    norm = (27.0 + 64.0) ** (1 / 3)
    factor = torch.tensor(1.0 / (norm + 1e-7), dtype=torch.float64).float()
    assert torch.equal(weight[0], torch.tensor([-3.0, -4.0]) * factor)
    assert torch.equal(weight[1], torch.tensor([3.0, 4.0]))  # not referenced
    assert torch.equal(weight[2], torch.tensor([-0.5, 0.5]))  # norm below max_norm


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("norm_type", NORM_TYPES)
def test_shard_renorm_equals_the_reference_bitwise(table: torch.Tensor, dtype: torch.dtype,
                                                    norm_type: float) -> None:
    """At world size 1 the shard kernels renormalise exactly like the reference's sharded
    renorm (S4.4), bit for bit; split over column shards, up to summation order."""
    weight = (table * 3).to(dtype)
    ids = torch.arange(12).repeat(2)
    ours = weight.clone()
    kernels.shard_renorm_(ours, ids, 1.3, norm_type)
    theirs = weight.clone()
    rows = sharded_norm.referenced_rows(ids, theirs.device)
    norms = sharded_norm.full_norms(sharded_norm.norm_terms(theirs, rows, norm_type), norm_type)
    sharded_norm.renorm_shard_(theirs, rows, norms, 1.3)
    assert not torch.equal(ours, weight)  # rows above max_norm were renormalised
    assert torch.equal(ours, theirs)

    shards = [weight[:, a:b].clone() for a, b in BLOCKS]
    rows = kernels.unique_rows(ids)
    terms = sum(EagerKernels().norm_terms(s, rows, norm_type) for s in shards)
    if math.isinf(norm_type):
        terms = torch.stack([EagerKernels().norm_terms(s, rows, norm_type)
                             for s in shards]).amax(0)
    norms = kernels.full_row_norms(terms, norm_type, dtype)
    exceeds, factors = kernels.renorm_factors(norms, 1.3)
    for shard in shards:
        EagerKernels().scale_rows_(shard, rows[exceeds], factors)
    # Split over column shards, the norm terms are summed in another order (S4.10).
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(torch.cat(shards, dim=1), ours, rtol=8 * eps, atol=0)


@pytest.mark.parametrize("bad", [torch.tensor([1], dtype=torch.int16), torch.tensor([1.0]),
                                 torch.tensor([True]), [1, 2]])
def test_check_ids_rejects_other_index_types(bad: object) -> None:
    with pytest.raises(TypeError):
        kernels.check_ids(bad, 5)


@pytest.mark.parametrize("ids", [[-1, 0], [0, 5]])
def test_check_ids_rejects_ids_out_of_range(ids: list[int]) -> None:
    with pytest.raises(IndexError, match="outside the valid range"):
        kernels.check_ids(torch.tensor(ids, dtype=torch.int32), 5)


def test_check_ids_accepts_empty_and_0d_input() -> None:
    kernels.check_ids(torch.empty(0, 3, dtype=torch.int64), 0)
    kernels.check_ids(torch.tensor(4), 5)


@pytest.mark.parametrize(("padding_idx", "scale_grad_by_freq"),
                         [(None, False), (1, False), (None, True), (1, True)])
def test_lookup_has_one_jacobian_in_every_mode(padding_idx, scale_grad_by_freq):
    """The eager gather's forward-mode derivative and the derivative of its backward
    follow the backward's padding and frequency rules (S6.1), unlike torch.embedding's."""
    ids = torch.tensor([[1, 0, 0], [3, 1, 0]])
    weight = torch.randn(4, 2, dtype=torch.float64)

    def forward(w: torch.Tensor) -> torch.Tensor:
        return kernels.lookup(ids, w, padding_idx=padding_idx,
                              scale_grad_by_freq=scale_grad_by_freq)

    reverse = torch.func.jacrev(forward)(weight)
    torch.testing.assert_close(torch.func.jacfwd(forward)(weight), reverse, rtol=1e-15, atol=0)
    leaf = weight.clone().requires_grad_()
    grad_output = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(forward(leaf), leaf, grad_output, create_graph=True)
    direction = torch.randn(4, 2, dtype=torch.float64)
    (second,) = torch.autograd.grad(grad, grad_output, direction)
    _, tangent = torch.func.jvp(forward, (weight,), (direction,))
    torch.testing.assert_close(second, tangent, rtol=1e-15, atol=0)
