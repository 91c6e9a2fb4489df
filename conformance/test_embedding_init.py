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
from embedspec.conformance.checks import Case, check, check_initialisation, fill_with_constant
from embedspec.reference import INIT_SCHEMES
from embedspec.reference.configs import EmbeddingConfig, StableEmbeddingConfig
from hypothesis import given
from hypothesis import strategies as st

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


@pytest.mark.parametrize("family", [
    pytest.param(family, marks=pytest.mark.spec(family, "init"), id=family)
    for family in ("embedding", "stable")])
def test_optimizer_state_hint(target, family):
    """S1.8, S2 (bitsandbytes): a built layer declares, as the class attribute
    ``optimizer_overrides``, that its weight keeps 32-bit optimizer state."""
    config = (EmbeddingConfig if family == "embedding" else StableEmbeddingConfig)(6, 4)
    check(target, Case(config=config, action="build"))


@pytest.mark.spec("embedding", "init")
@pytest.mark.parametrize("freeze", [True, False], ids=["frozen", "trainable"])
@given(data=st.data())
def test_from_pretrained_uses_the_table_itself(target, freeze, data):
    """S1.6: ``from_pretrained(table)`` builds a layer on ``table`` itself (shared
    storage), its padding row as given, not zeroed; frozen (no weight gradient) unless
    ``freeze=False``."""
    check(target, data.draw(xs.embedding_cases(padding=None, values="any", backward=True,
                                               action="from_pretrained", freeze=freeze),
                            label="case"))


#: Tables ``from_pretrained`` must reject (S1.6): integer or bool entries, or not 2-D.
BAD_TABLES = {
    "int64": lambda table: torch.arange(table.numel()).reshape(table.shape),
    "int32": lambda table: torch.arange(table.numel(), dtype=torch.int32).reshape(table.shape),
    "bool": lambda table: table > 0,
    "1-D": lambda table: table.reshape(-1),
    "3-D": lambda table: table.unsqueeze(0),
}


@pytest.mark.parametrize("family", [
    pytest.param(family, marks=pytest.mark.spec(family, "errors"), id=family)
    for family in ("embedding", "stable")])
@pytest.mark.parametrize("table", sorted(BAD_TABLES))
@pytest.mark.parametrize("freeze", [True, False], ids=["frozen", "trainable"])
@given(data=st.data())
def test_from_pretrained_rejects_bad_tables(target, family, table, freeze, data):
    """S1.6: ``from_pretrained`` takes a 2-D floating-point table; an integer or bool
    table, or one that is not 2-D, raises ValueError naming ``embeddings``
    (D-integer-table, D-weight-dim-error)."""
    case = data.draw(xs.family_cases(family, padding=None, action="from_pretrained",
                                     freeze=freeze), label="case")
    state = case.states[0]
    state["weight"] = BAD_TABLES[table](state["weight"])
    check(target, case, error=ValueError, mentions="embeddings")
