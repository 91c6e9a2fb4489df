"""Spec S1.7, initialisation: a named scheme's law, then an exactly zero padding row.

The backend builds the layer after ``torch.manual_seed(seed)``; the built table is
checked statistically against the scheme's law (mean, variance, bounds and a
Kolmogorov-Smirnov test, each with a false-alarm rate far below one in a million, on
fixed seeds) and its padding row must be exactly zero. A user callable runs instead
of a named scheme and is followed by the same zeroing.
"""

from __future__ import annotations

import pytest
import torch
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks import Case, check_initialisation, fill_with_constant
from embedspec.reference import INIT_SCHEMES
from embedspec.reference.configs import EmbeddingConfig

#: Table shapes (V, D, padding_idx) of several thousand elements each.
INIT_SHAPES = [
    pytest.param(512, 16, 3, id="512x16-pad3"),
    pytest.param(96, 64, None, id="96x64"),
    pytest.param(40, 200, -1, id="40x200-pad-1"),
]


@pytest.mark.spec("embedding", "init")
@pytest.mark.parametrize("scheme", sorted(INIT_SCHEMES))
@pytest.mark.parametrize(("num_embeddings", "embedding_dim", "padding_idx"), INIT_SHAPES)
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
def test_named_scheme_follows_its_law(target, seed, dtype, num_embeddings, embedding_dim,
                                      padding_idx, scheme):
    """normal N(0, 1), xavier_uniform U(-b, b) with b = sqrt(6 / (V + D)), scaled_normal
    N(0, 1/D); the padding row exactly zero."""
    config = EmbeddingConfig(num_embeddings, embedding_dim, padding_idx=padding_idx,
                             init=scheme, dtype=xs.torch_dtype(dtype))
    check_initialisation(target, Case(config=config, action="build"), seed=seed)


@pytest.mark.spec("embedding", "init")
@pytest.mark.parametrize(("num_embeddings", "embedding_dim", "padding_idx"), INIT_SHAPES)
def test_user_callable_then_padding_row_zeroed(target, seed, num_embeddings, embedding_dim,
                                               padding_idx):
    """A callable fills the table; the padding row is zeroed after it."""
    config = EmbeddingConfig(num_embeddings, embedding_dim, padding_idx=padding_idx,
                             init=fill_with_constant)
    check_initialisation(target, Case(config=config, action="build"), seed=seed)


@pytest.mark.spec("embedding", "init")
@pytest.mark.parametrize("scheme", sorted(INIT_SCHEMES))
@pytest.mark.parametrize(("num_embeddings", "embedding_dim", "padding_idx"), INIT_SHAPES[:2])
def test_reset_parameters_reinitialises(target, seed, num_embeddings, embedding_dim,
                                        padding_idx, scheme):
    """``reset_parameters()`` draws the table again by the layer's scheme and zeroes the
    padding row, whatever the table held."""
    config = EmbeddingConfig(num_embeddings, embedding_dim, padding_idx=padding_idx,
                             init=scheme)
    state = {"weight": torch.full((num_embeddings, embedding_dim), 7.0)}
    check_initialisation(target, Case(config=config, states=[state], action="reset_parameters"),
                         seed=seed)
