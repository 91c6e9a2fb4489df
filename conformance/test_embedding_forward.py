"""Spec section 1, forward (S0.1, S1): a lookup returns the stored rows, bitwise.

A lookup is a gather: for every index tensor (any shape, 0-d and empty included,
non-contiguous views included, int32 or int64) the output is ``weight[indices]``,
bit for bit, whatever the finite values (subnormals and extremes included), and the
table is left exactly as it was.
"""

from __future__ import annotations

import pytest
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks import check
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.spec("embedding", "forward")
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@given(data=st.data())
def test_lookup_returns_stored_rows(target, dtype, data):
    """Every finite value of the dtype comes back bitwise; the table is unchanged."""
    check(target, data.draw(xs.embedding_cases(dtype, values="any"), label="case"))


@pytest.mark.spec("embedding", "forward")
@pytest.mark.parametrize("layout", xs.INDEX_LAYOUTS)
@given(data=st.data())
def test_every_index_layout(target, layout, data):
    """0-d, empty, contiguous, transposed and strided index tensors, int32 and int64."""
    check(target, data.draw(xs.embedding_cases(indices={"layouts": (layout,)}), label="case"))


@pytest.mark.spec("embedding", "forward")
@pytest.mark.parametrize("distribution", xs.ID_DISTRIBUTIONS)
@given(data=st.data())
def test_every_id_distribution(target, distribution, data):
    """Uniform, Zipf-skewed, all-duplicate and end-of-range ids."""
    check(target, data.draw(xs.embedding_cases(indices={"distributions": (distribution,)}),
                            label="case"))


@pytest.mark.spec("embedding", "forward")
@pytest.mark.parametrize(("num_embeddings", "embedding_dim"), [(0, 3), (4, 0), (0, 0), (1, 1)],
                         ids=["V0", "D0", "V0-D0", "V1-D1"])
@given(data=st.data())
def test_degenerate_sizes(target, num_embeddings, embedding_dim, data):
    """V = 0 and D = 0 are legal (F1.6): a V = 0 table takes only empty indices, a D = 0
    table returns ``indices.shape + (0,)``."""
    check(target, data.draw(xs.embedding_cases(num_embeddings=st.just(num_embeddings),
                                               embedding_dim=st.just(embedding_dim)),
                            label="case"))
