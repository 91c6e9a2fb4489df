"""Spec S1.3-S1.5, backward: dense, frequency-scaled and sparse weight gradients.

``grad_weight[k]`` is the sum of the output gradients at the non-padding positions
with id ``k`` (each divided by the number of occurrences of ``k`` with
``scale_grad_by_freq``). Repeated ids make it an accumulation, compared within the
S0.7 bound; rows with no contribution must be exactly zero. A sparse gradient is a
COO tensor of shape ``(V, D)`` compared after coalescing (a backend may coalesce).
"""

from __future__ import annotations

import pytest
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks import check
from hypothesis import given
from hypothesis import strategies as st

#: Index tensors that make long accumulations into few rows.
HOT_IDS = {"distributions": ("zipf", "duplicates"),
           "layouts": ("contiguous", "transposed", "strided")}


@pytest.mark.spec("embedding", "backward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_dense_gradient(target, dtype, data):
    """Sum of the output gradients per row, any index shape and distribution."""
    check(target, data.draw(xs.embedding_cases(dtype, backward=True), label="case"))


@pytest.mark.spec("embedding", "backward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_dense_gradient_of_hot_ids(target, dtype, data):
    """Zipf-skewed and all-duplicate ids: long accumulations into few rows."""
    check(target, data.draw(xs.embedding_cases(dtype, indices=HOT_IDS, backward=True),
                            label="case"))


@pytest.mark.spec("embedding", "scale_grad_by_freq")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_scale_grad_by_freq(target, dtype, data):
    """Each contribution to row ``k`` is divided by the count of ``k`` in the whole
    (flattened) index tensor: the row gets the mean of its gradients."""
    check(target, data.draw(xs.embedding_cases(dtype, scale_grad_by_freq=True, backward=True),
                            label="case"))


@pytest.mark.spec("embedding", "scale_grad_by_freq")
@given(data=st.data())
def test_scale_grad_by_freq_with_padding(target, data):
    """Padding positions contribute nothing, even when frequencies are counted."""
    check(target, data.draw(xs.embedding_cases(scale_grad_by_freq=True, padding=True,
                                               include_padding=True, backward=True),
                            label="case"))


@pytest.mark.spec("embedding", "sparse")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_sparse_gradient(target, dtype, data):
    """A sparse COO ``(V, D)`` gradient equal to the dense one once coalesced."""
    check(target, data.draw(xs.embedding_cases(dtype, sparse=True, backward=True),
                            label="case"))


@pytest.mark.spec("embedding", "sparse")
@given(data=st.data())
def test_sparse_gradient_drops_padding(target, data):
    """Padding positions leave no entry in the sparse gradient (indices of at least one
    dimension; the next test takes a 0-d index)."""
    check(target, data.draw(xs.embedding_cases(sparse=True, padding=True,
                                               include_padding=True, backward=True,
                                               indices={"layouts": ("contiguous", "transposed",
                                                                    "strided")}),
                            label="case"))


@pytest.mark.spec("embedding", "sparse")
@given(data=st.data())
def test_sparse_gradient_of_a_scalar_index(target, data):
    """A 0-d index with a padding row: a sparse gradient like that of the same id as a
    1-element index (none when it is the padding row)."""
    check(target, data.draw(xs.embedding_cases(sparse=True, padding=True, backward=True,
                                               indices={"layouts": ("scalar",)}),
                            label="case"))


@pytest.mark.spec("embedding", "sparse")
@given(data=st.data())
def test_sparse_gradient_of_empty_input(target, data):
    """No positions: a sparse ``(V, D)`` gradient without entries."""
    check(target, data.draw(xs.embedding_cases(sparse=True, indices={"layouts": ("empty",)},
                                               backward=True), label="case"))
