"""Each conformance assertion fails on what it must, passes on what it must, and says
precisely why it failed."""

from __future__ import annotations

import math

import pytest
import torch
from embedspec.conformance.checks.assertions import (
    assert_error,
    assert_exact,
    assert_no_error,
    assert_rows_unchanged_except,
    assert_same_meta,
    assert_sparse_grad_equal,
    assert_state_unchanged,
    assert_within,
    assert_zero_where,
)
from embedspec.conformance.checks.case import ErrorInfo, RankOutcome
from embedspec.conformance.checks.tolerance import Bound

EXACT_ZERO = Bound()

FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


# -- assert_same_meta -----------------------------------------------------------------------


def test_same_meta_passes_on_equal_meta_and_devices():
    assert_same_meta(torch.zeros(2, 3), torch.ones(2, 3), actual_device="cpu",
                     expected_device="cpu")


@pytest.mark.parametrize(("actual", "message"), [
    (torch.zeros(3, 2), "shape (3, 2)"),
    (torch.zeros(2, 3, dtype=torch.float64), "dtype torch.float64"),
    (torch.zeros(2, 3).to_sparse(), "layout torch.sparse_coo"),
])
def test_same_meta_fails_on_shape_dtype_or_layout(actual, message):
    with pytest.raises(AssertionError, match="output: got .*" + message.replace("(", r"\(")
                       .replace(")", r"\)")):
        assert_same_meta(actual, torch.zeros(2, 3))


def test_same_meta_fails_on_device():
    with pytest.raises(AssertionError, match="on device cpu, expected cuda"):
        assert_same_meta(torch.zeros(1), torch.zeros(1), actual_device="cpu",
                         expected_device="cuda")


def test_same_meta_fails_on_a_non_tensor():
    with pytest.raises(AssertionError, match="expected a tensor, got NoneType"):
        assert_same_meta(None, torch.zeros(1))


# -- assert_exact ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
def test_exact_passes_on_identical_bits(dtype):
    x = torch.tensor([[0.0, -0.0], [1e-7, -3.5]], dtype=dtype)
    assert_exact(x.clone(), x)
    assert_exact(torch.tensor(2.0, dtype=dtype), torch.tensor(2.0, dtype=dtype))
    assert_exact(torch.empty(0, 4, dtype=dtype), torch.empty(0, 4, dtype=dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_exact_tells_negative_zero_from_zero(dtype):
    with pytest.raises(AssertionError, match=r"first at index \(1,\): got -0.0, expected 0.0"):
        assert_exact(torch.tensor([0.0, -0.0], dtype=dtype), torch.tensor([0.0, 0.0],
                                                                           dtype=dtype))


def test_exact_reports_count_first_index_and_max_diff():
    expected = torch.arange(6.0).reshape(2, 3)
    actual = expected.clone()
    actual[1, 0] += 0.5
    actual[1, 2] += 2.0
    with pytest.raises(AssertionError) as info:
        assert_exact(actual, expected, what="weight")
    text = str(info.value)
    assert "weight: 2 of 6 elements are not bitwise equal" in text
    assert "first at index (1, 0): got 3.5, expected 3.0" in text
    assert "max |diff| 2" in text


def test_exact_compares_non_contiguous_tensors_by_value():
    base = torch.arange(12.0).reshape(3, 4)
    assert_exact(base.t(), base.t().contiguous())


def test_exact_works_for_integer_tensors():
    assert_exact(torch.tensor([1, 2], dtype=torch.uint8), torch.tensor([1, 2], dtype=torch.uint8))
    with pytest.raises(AssertionError, match="got 3, expected 2"):
        assert_exact(torch.tensor([1, 3], dtype=torch.uint8),
                     torch.tensor([1, 2], dtype=torch.uint8))


# -- assert_within ---------------------------------------------------------------------------------


def test_within_passes_inside_and_fails_outside_the_bound():
    expected = torch.tensor([1.0, 2.0, 3.0])
    bound = Bound.of(torch.tensor([1.0, 1.0, 1.0]), torch.tensor([1.0, 1.0, 1.0]),
                     torch.float32)
    allowed = float(bound.allowed()[0])
    assert_within(expected + allowed * 0.5, expected, bound)
    with pytest.raises(AssertionError) as info:
        assert_within(expected + torch.tensor([0.0, allowed * 4, 0.0]), expected, bound,
                      what="gradient")
    text = str(info.value)
    assert "gradient: 1 of 3 elements differ beyond the allowed bound" in text
    assert "first at index (1,)" in text and "allowed" in text
    assert "1 terms in float32 over magnitude 1" in text


def test_zero_magnitude_requires_exact_zero():
    with pytest.raises(AssertionError, match="exact zero difference"):
        assert_within(torch.tensor([1e-30]), torch.tensor([0.0]), EXACT_ZERO)
    assert_within(torch.tensor([-0.0]), torch.tensor([0.0]), EXACT_ZERO)
    with pytest.raises(AssertionError):
        assert_within(torch.tensor([1e-45]), torch.tensor([0.0]),
                      Bound.of(5, 0.0, torch.float32))


def test_within_matches_non_finite_values_exactly():
    bound = Bound.of(10.0, 1.0, torch.float32)
    assert_within(torch.tensor([math.inf, math.nan]), torch.tensor([math.inf, math.nan]), bound)
    with pytest.raises(AssertionError):
        assert_within(torch.tensor([1.0]), torch.tensor([math.nan]), bound)
    with pytest.raises(AssertionError):
        assert_within(torch.tensor([math.nan]), torch.tensor([1.0]), bound)
    with pytest.raises(AssertionError):
        assert_within(torch.tensor([-math.inf]), torch.tensor([math.inf]), bound)


@pytest.mark.parametrize("dtype", FLOATS)
def test_accumulation_bound_scales_with_terms_and_magnitude(dtype):
    eps = torch.finfo(dtype).eps
    expected = torch.tensor([100.0], dtype=dtype)
    off = expected + 100.0 * eps * 3
    assert_within(off, expected, Bound.of(2, 100.0, dtype))
    with pytest.raises(AssertionError):
        assert_within(off, expected, Bound.of(1, 10.0, dtype))


def test_within_needs_matching_meta():
    with pytest.raises(AssertionError, match="dtype"):
        assert_within(torch.zeros(2, dtype=torch.float64), torch.zeros(2), EXACT_ZERO)


# -- assert_zero_where ---------------------------------------------------------------------------


def test_zero_where_checks_only_the_masked_elements():
    values = torch.tensor([[0.0, 5.0], [-0.0, 0.0]])
    assert_zero_where(values, torch.tensor([[True], [True]]) & torch.tensor([True, False]))
    assert_zero_where(values, torch.tensor([False, True]).unsqueeze(1))
    with pytest.raises(AssertionError, match=r"first at index \(0, 1\): got 5.0"):
        assert_zero_where(values, torch.tensor([True, False]).unsqueeze(1), what="row 0")


# -- assert_sparse_grad_equal --------------------------------------------------------------------


def _sparse(rows, values, shape=(4, 2)):
    return torch.sparse_coo_tensor(torch.tensor([rows], dtype=torch.int64),
                                   torch.tensor(values, dtype=torch.float32), shape,
                                   check_invariants=True)


def test_sparse_grads_compare_after_coalescing():
    uncoalesced = _sparse([2, 0, 2], [[1.0, 1.0], [2.0, 0.0], [0.5, -1.0]])
    coalesced = _sparse([0, 2], [[2.0, 0.0], [1.5, 0.0]])
    bound = Bound.of(torch.ones(4, 1), torch.full((4, 2), 2.0), torch.float32)
    assert_sparse_grad_equal(coalesced, uncoalesced, bound)
    assert_sparse_grad_equal(uncoalesced, coalesced, bound)


def test_sparse_grads_fail_on_rows_values_layout_and_shape():
    want = _sparse([0, 2], [[2.0, 0.0], [1.5, 0.0]])
    bound = Bound.of(torch.ones(4, 1), torch.full((4, 2), 2.0), torch.float32)
    with pytest.raises(AssertionError, match=r"missing \[2\], unexpected \[3\]"):
        assert_sparse_grad_equal(_sparse([0, 3], [[2.0, 0.0], [1.5, 0.0]]), want, bound)
    with pytest.raises(AssertionError, match="differ beyond"):
        assert_sparse_grad_equal(_sparse([0, 2], [[2.0, 0.0], [1.0, 0.0]]), want, bound)
    with pytest.raises(AssertionError, match=r"expected torch\.sparse_coo"):
        assert_sparse_grad_equal(want.to_dense(), want, bound)
    with pytest.raises(AssertionError, match="shape"):
        assert_sparse_grad_equal(_sparse([0], [[1.0, 1.0]], shape=(5, 2)), want, bound)


def test_empty_sparse_grads_are_equal():
    empty = torch.sparse_coo_tensor(torch.empty(1, 0, dtype=torch.int64), torch.empty(0, 2),
                                    (3, 2), check_invariants=True)
    assert_sparse_grad_equal(empty, empty.clone(), EXACT_ZERO)


# -- state assertions -----------------------------------------------------------------------------


def test_state_unchanged_passes_on_identical_bits_and_fails_otherwise():
    before = {"weight": torch.tensor([[1.0, -0.0]]), "norm.bias": torch.zeros(2)}
    assert_state_unchanged(before, {k: v.clone() for k, v in before.items()})
    changed = {k: v.clone() for k, v in before.items()}
    changed["weight"][0, 1] = 0.0
    with pytest.raises(AssertionError, match=r"state 'weight'.*first at index \(0, 1\)"):
        assert_state_unchanged(before, changed)
    with pytest.raises(AssertionError, match="keys changed"):
        assert_state_unchanged(before, {"weight": before["weight"]})


def test_rows_unchanged_except_allows_only_the_listed_rows():
    before = torch.arange(8.0).reshape(4, 2)
    after = before.clone()
    after[1] = 0
    after[3] = -1
    assert_rows_unchanged_except(before, after, [1, 3])
    assert_rows_unchanged_except(before, after, torch.tensor([3, 1]))
    with pytest.raises(AssertionError, match=r"rows \[3\] changed but only rows \[1\] may"):
        assert_rows_unchanged_except(before, after, [1])


# -- errors ---------------------------------------------------------------------------------


def _failed(cls: type[BaseException], message: str) -> RankOutcome:
    mro = tuple(c.__name__ for c in cls.__mro__ if issubclass(c, BaseException))
    return RankOutcome(error=ErrorInfo(cls.__name__, message, mro))


def test_error_passes_on_the_class_and_its_subclasses():
    assert_error(_failed(IndexError, "id 7 out of range"), IndexError)
    assert_error(_failed(IndexError, "id 7 out of range"), LookupError)
    assert_error(_failed(ValueError, "padding_idx must be ..."), ValueError,
                 mentions="padding_idx")


def test_error_fails_on_no_error_another_class_or_a_missing_name():
    with pytest.raises(AssertionError, match="expected IndexError, but no error was raised"):
        assert_error(RankOutcome(), IndexError)
    with pytest.raises(AssertionError, match="expected TypeError, got RuntimeError: Long, Int"):
        assert_error(_failed(RuntimeError, "Long, Int"), TypeError)
    with pytest.raises(AssertionError, match="must name 'max_norm'"):
        assert_error(_failed(ValueError, "bad value"), ValueError, mentions="max_norm")


def test_no_error_reports_the_backend_error():
    assert_no_error(RankOutcome())
    with pytest.raises(AssertionError, match="the backend raised KeyError: 'weight'"):
        assert_no_error(_failed(KeyError, "'weight'"))
