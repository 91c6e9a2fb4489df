"""The conformance strategies produce what they claim: ranges, dtypes, layouts,
distributions, feature toggles, invalid configurations, and labelled draws."""

from __future__ import annotations

import ast
import itertools
import math
from collections import Counter
from pathlib import Path

import embedspec.conformance
import pytest
import torch
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks.case import Case
from embedspec.conformance.checks.expected import build_reference, state_layout
from embedspec.reference.validation import normalize_padding_idx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CONFORMANCE_DIR = Path(embedspec.conformance.__file__).resolve().parent
FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- index tensors ------------------------------------------------------------------------


@FAST
@given(data=st.data())
def test_index_draws_hold_valid_ids_of_the_claimed_dtype(data):
    num_embeddings = data.draw(st.integers(1, 12), label="num_embeddings")
    drawn = data.draw(xs.index_draws(num_embeddings), label="indices")
    tensor = drawn.tensor
    assert tensor.dtype == xs.index_dtype(drawn.dtype)
    assert drawn.dtype in xs.INDEX_DTYPE_NAMES
    assert tensor.numel() <= xs.indices.MAX_INDEX_NUMEL
    if tensor.numel():
        assert int(tensor.min()) >= 0 and int(tensor.max()) < num_embeddings


@pytest.mark.parametrize("layout", xs.INDEX_LAYOUTS)
@FAST
@given(data=st.data())
def test_layouts_are_what_they_claim(layout, data):
    num_embeddings = data.draw(st.integers(1, 12), label="num_embeddings")
    tensor = data.draw(xs.index_tensors(num_embeddings, layouts=(layout,)), label="indices")
    claims = {
        "contiguous": lambda t: t.is_contiguous() and t.dim() >= 1 and t.numel() > 0,
        "scalar": lambda t: t.dim() == 0,
        "empty": lambda t: t.numel() == 0 and t.dim() >= 1,
        "transposed": lambda t: not t.is_contiguous() and t.numel() > 0,
        "strided": lambda t: not t.is_contiguous() and t.numel() > 0,
    }
    assert claims[layout](tensor), (layout, tensor.shape, tensor.stride())


@FAST
@given(data=st.data())
def test_strided_views_hide_other_valid_ids_in_their_storage(data):
    num_embeddings = data.draw(st.integers(2, 12), label="num_embeddings")
    tensor = data.draw(xs.index_tensors(num_embeddings, layouts=("strided",)), label="indices")
    storage = torch.empty(0, dtype=tensor.dtype).set_(tensor.untyped_storage())
    assert storage.numel() == 2 * tensor.numel()
    assert int(storage.min()) >= 0 and int(storage.max()) < num_embeddings


def test_every_layout_and_distribution_is_drawn():
    seen = set()

    @settings(max_examples=200, deadline=None, derandomize=True, database=None)
    @given(xs.index_draws(8))
    def collect(drawn):
        seen.add((drawn.layout, drawn.distribution, drawn.dtype))

    collect()
    assert {s[0] for s in seen} == set(xs.INDEX_LAYOUTS)
    assert {s[1] for s in seen} == set(xs.ID_DISTRIBUTIONS)
    assert {s[2] for s in seen} == set(xs.INDEX_DTYPE_NAMES)


@FAST
@given(data=st.data())
def test_zipf_draws_are_skewed(data):
    num_embeddings = data.draw(st.integers(2, 12), label="num_embeddings")
    tensor = data.draw(xs.index_tensors(num_embeddings, distributions=("zipf",),
                                        layouts=("contiguous",), max_numel=24),
                       label="indices")
    counts = Counter(tensor.reshape(-1).tolist())
    hottest = counts.most_common(1)[0][1]
    per_id = sorted((counts.get(i, 0) for i in range(num_embeddings)), reverse=True)
    assert per_id == xs.zipf_counts(num_embeddings, tensor.numel())
    if tensor.numel() >= 8:
        assert hottest > tensor.numel() / num_embeddings


@pytest.mark.parametrize(("num_ids", "total"), [(1, 5), (5, 1), (12, 24), (4, 100), (10, 0)])
def test_zipf_counts_are_non_increasing_and_complete(num_ids, total):
    counts = xs.zipf_counts(num_ids, total)
    assert sum(counts) == total and len(counts) == num_ids
    assert all(a >= b for a, b in itertools.pairwise(counts))


def test_zipf_counts_follow_the_law():
    counts = xs.zipf_counts(10, 10_000, exponent=1.2)
    expected = [1 / (k + 1) ** 1.2 for k in range(10)]
    total = sum(expected)
    for got, weight in zip(counts, expected, strict=True):
        assert abs(got / 10_000 - weight / total) < 1e-3


@FAST
@given(data=st.data())
def test_duplicates_hold_one_distinct_id(data):
    num_embeddings = data.draw(st.integers(1, 12), label="num_embeddings")
    tensor = data.draw(xs.index_tensors(num_embeddings, distributions=("duplicates",),
                                        layouts=("contiguous", "strided")), label="indices")
    assert len(set(tensor.reshape(-1).tolist())) == 1


@FAST
@given(data=st.data())
def test_ends_hold_only_the_first_and_last_id(data):
    num_embeddings = data.draw(st.integers(1, 12), label="num_embeddings")
    tensor = data.draw(xs.index_tensors(num_embeddings, distributions=("ends",)),
                       label="indices")
    assert set(tensor.reshape(-1).tolist()) <= {0, num_embeddings - 1}


@FAST
@given(data=st.data())
def test_included_ids_occur(data):
    num_embeddings = data.draw(st.integers(1, 12), label="num_embeddings")
    wanted = data.draw(st.lists(st.integers(0, num_embeddings - 1), min_size=1, max_size=2),
                       label="include")
    tensor = data.draw(xs.index_tensors(num_embeddings, include=wanted), label="indices")
    assert set(wanted) <= set(tensor.reshape(-1).tolist())


def test_a_table_of_zero_rows_gets_empty_indices():
    @settings(max_examples=20, deadline=None, derandomize=True, database=None)
    @given(xs.index_tensors(0))
    def check(tensor):
        assert tensor.numel() == 0

    check()


@FAST
@given(data=st.data())
def test_out_of_range_tensors_hold_a_bad_id(data):
    num_embeddings = data.draw(st.integers(0, 12), label="num_embeddings")
    tensor = data.draw(xs.out_of_range_index_tensors(num_embeddings), label="indices")
    assert tensor.dtype in (torch.int32, torch.int64) and tensor.numel() > 0
    assert int(tensor.min()) < 0 or int(tensor.max()) >= num_embeddings


def test_out_of_range_ids_cover_negative_equal_and_large():
    seen = set()

    @settings(max_examples=100, deadline=None, derandomize=True, database=None)
    @given(xs.out_of_range_ids(5, "int32"))
    def collect(bad):
        assert bad < 0 or bad >= 5
        assert -(2**31) <= bad < 2**31
        seen.add("negative" if bad < 0 else "equal" if bad == 5 else "large")
        seen.add("minus_one" if bad == -1 else "")

    collect()
    assert {"negative", "equal", "large", "minus_one"} <= seen


@FAST
@given(data=st.data())
def test_bad_dtype_tensors_have_only_the_dtype_wrong(data):
    num_embeddings = data.draw(st.integers(0, 12), label="num_embeddings")
    tensor = data.draw(xs.bad_dtype_index_tensors(num_embeddings), label="indices")
    assert tensor.dtype in {xs.index_dtype(n) for n in xs.BAD_INDEX_DTYPE_NAMES}
    if tensor.numel() and tensor.dtype != torch.bool:
        assert int(tensor.min()) >= 0 and int(tensor.max()) < num_embeddings


# -- float data ---------------------------------------------------------------------------


@pytest.mark.parametrize("values", xs.VALUE_RANGES)
@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@FAST
@given(data=st.data())
def test_values_are_finite_and_exact_in_their_dtype(dtype, values, data):
    value = data.draw(xs.finite_values(dtype, values), label="value")
    assert math.isfinite(value)
    assert float(torch.tensor(value, dtype=xs.torch_dtype(dtype))) == value
    if values == "moderate" and value != 0:
        low, high = xs.MODERATE_RANGES[dtype]
        assert low <= abs(value) <= high


@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@FAST
@given(data=st.data())
def test_tables_have_the_claimed_shape_dtype_and_row_scales(dtype, data):
    rows = data.draw(st.integers(0, 6), label="rows")
    cols = data.draw(st.integers(0, 5), label="cols")
    table = data.draw(xs.tables(rows, cols, dtype), label="table")
    assert table.shape == (rows, cols) and table.dtype == xs.torch_dtype(dtype)
    assert bool(torch.isfinite(table).all())
    largest = xs.MODERATE_RANGES[dtype][1] * max(xs.ROW_SCALES)
    assert table.numel() == 0 or float(table.abs().max()) <= largest


def test_tables_include_zero_rows_and_both_sides_of_a_norm():
    norms = []

    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @given(xs.tables(4, 3, "float32"))
    def collect(table):
        norms.extend(table.norm(dim=1).tolist())

    collect()
    assert min(norms) == 0.0
    assert any(0 < n < 1 for n in norms) and any(n > 5 for n in norms)


@pytest.mark.parametrize("family", xs.SINGLE_PROCESS_FAMILIES)
@FAST
@given(data=st.data())
def test_states_match_the_reference_layout(family, data):
    dtype = data.draw(st.sampled_from(xs.DTYPE_NAMES), label="dtype")
    config = data.draw(xs.configs(family, dtype), label="config")
    state = data.draw(xs.states(config), label="state")
    layout = state_layout(config)
    assert {k: (tuple(v.shape), v.dtype) for k, v in state.items()} == layout
    build_reference(config).load_state_dict(state)


# -- configurations -------------------------------------------------------------------------


@pytest.mark.parametrize("family", xs.SINGLE_PROCESS_FAMILIES)
@FAST
@given(data=st.data())
def test_valid_configs_build_in_the_reference(family, data):
    dtype = data.draw(st.sampled_from(xs.DTYPE_NAMES), label="dtype")
    config = data.draw(xs.configs(family, dtype), label="config")
    assert config.dtype == xs.torch_dtype(dtype)
    build_reference(config, device="meta")


@FAST
@given(data=st.data())
def test_feature_toggles_are_honoured(data):
    on = data.draw(xs.embedding_configs(padding=True, max_norm=True, scale_grad_by_freq=True),
                   label="on")
    assert on.padding_idx is not None and on.max_norm is not None and on.scale_grad_by_freq
    assert not on.sparse
    off = data.draw(xs.embedding_configs(), label="off")
    assert (off.padding_idx, off.max_norm, off.scale_grad_by_freq, off.sparse) == (
        None, None, False, False)
    fixed = data.draw(xs.embedding_configs(max_norm=0.0), label="fixed")
    assert fixed.max_norm == 0.0
    sparse = data.draw(xs.embedding_configs(sparse=True), label="sparse")
    assert sparse.sparse and not sparse.scale_grad_by_freq
    normalize_padding_idx(on.padding_idx, on.num_embeddings)


def test_sparse_with_frequency_scaling_is_refused_by_the_strategy():
    @settings(max_examples=1, database=None)
    @given(xs.embedding_configs(sparse=True, scale_grad_by_freq=True))
    def draw(config):
        del config

    with pytest.raises(ValueError, match="sparse"):
        draw()


@pytest.mark.parametrize(("family", "rule"), [(f, r.name) for f in xs.SINGLE_PROCESS_FAMILIES
                                             for r in xs.rules_of(f)])
@FAST
@given(data=st.data())
def test_each_rule_breaking_config_fails_in_the_reference_naming_the_argument(family, rule,
                                                                              data):
    invalid = data.draw(xs.rule_breaking_configs(family, rule), label="invalid")
    with pytest.raises(ValueError, match=invalid.argument):
        build_reference(invalid.config)


def test_every_family_has_the_shared_rules_and_its_own():
    shared = {"padding_idx_range", "padding_idx_type", "padding_idx_bool", "size_negative",
              "size_type", "dtype_not_float"}
    for family in xs.SINGLE_PROCESS_FAMILIES:
        assert shared <= {r.name for r in xs.rules_of(family)}, family
    assert "centre_not_bool" in {r.name for r in xs.rules_of("binary")}
    assert "max_norm_negative" not in {r.name for r in xs.rules_of("binary")}


@FAST
@given(data=st.data())
def test_a_rule_the_family_lacks_is_an_error(data):
    with pytest.raises(ValueError, match="has no rule"):
        data.draw(xs.rule_breaking_configs("binary", "max_norm_negative"), label="invalid")


# -- how conformance tests use the strategies --------------------------------------------------


def _conformance_test_modules() -> list[Path]:
    return sorted(CONFORMANCE_DIR.glob("test_*.py"))


def _draw_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "draw" and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "data"]


@pytest.mark.parametrize("path", _conformance_test_modules(), ids=lambda p: p.name)
def test_every_draw_in_a_conformance_test_is_labelled(path):
    unlabelled = [f"{path.name}:{call.lineno}" for call in _draw_calls(path)
                  if not any(k.arg == "label" for k in call.keywords)]
    assert not unlabelled, f"data.draw without label=: {unlabelled}"


def test_drawn_cases_are_picklable():
    import pickle

    @settings(max_examples=20, deadline=None, derandomize=True, database=None)
    @given(data=st.data())
    def check(data):
        config = data.draw(xs.embedding_configs(padding=None, max_norm=None), label="config")
        state = data.draw(xs.states(config), label="state")
        indices = data.draw(xs.index_tensors(config.num_embeddings), label="indices")
        case = Case(config, states=[state], inputs=[indices])
        again = pickle.loads(pickle.dumps(case))
        assert again.inputs[0].stride() == indices.stride()
        assert torch.equal(again.inputs[0], indices)

    check()


# -- strategy reuse and element conversion ------------------------------------------------


def test_bfloat16_rounding_matches_torch_on_every_kind_of_float32():
    from embedspec.conformance.strategies.tensors import to_bfloat16

    bits = torch.randint(0, 2**31 - 1, (20000,), generator=torch.Generator().manual_seed(0))
    ties = (bits & ~0xFFFF) | 0x8000  # exactly halfway between two bfloat16 values
    negative = bits - 2**31  # the same magnitudes' bits with the sign bit set
    floats = torch.cat([bits, ties, negative]).to(torch.int32).view(torch.float32)
    special = torch.tensor([0.0, -0.0, 1e-45, -1e-45, 1.0, 1.00390625, 1.005859375])
    values = torch.cat([floats[torch.isfinite(floats)
                               & (floats.abs() <= torch.finfo(torch.bfloat16).max)], special])
    expected = values.to(torch.bfloat16).to(torch.float32)
    got = torch.tensor([to_bfloat16(v) for v in values.tolist()], dtype=torch.float32)
    assert torch.equal(got.view(torch.int32), expected.view(torch.int32))


def test_reused_strategies_are_keyed_by_type_and_value():
    from embedspec.conformance.strategies.reuse import reused

    built = []

    @reused
    def make(*args, **kwargs):
        built.append((args, kwargs))
        return st.just(len(built))

    assert make(1, flag=0.0) is make(1, flag=0.0)
    keys = [make(1, flag=v) for v in (False, 0, 0.0, -0.0)]
    assert len({id(k) for k in keys}) == 4, "False, 0, 0.0 and -0.0 are different arguments"
    assert make((1, 2)) is make((1, 2)) and make((1, 2)) is not make((1.0, 2))
    assert make([1, 2]) is not make([1, 2]), "a list argument builds a new strategy"
    assert make(torch.zeros(1)) is not make(torch.zeros(1))
    assert make(lambda: 0) is not make(lambda: 0)


# -- case predicates ----------------------------------------------------------------------


def test_renorm_would_show_only_when_a_valid_id_references_a_row_above_max_norm():
    from embedspec.reference.configs import EmbeddingConfig

    weight = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])

    def case(ids: list[int], max_norm: float | None = 0.0) -> Case:
        return Case(config=EmbeddingConfig(num_embeddings=3, embedding_dim=2,
                                           max_norm=max_norm),
                    states=[{"weight": weight}], inputs=[torch.tensor(ids)])

    assert xs.renorm_would_show(case([1, 7]))
    assert not xs.renorm_would_show(case([0, 2, -1]))  # only zero rows, and a bad id
    assert not xs.renorm_would_show(case([1, 5], max_norm=5.0))  # norm 5 is not above 5
    assert xs.renorm_would_show(case([0, 5], max_norm=None))  # nothing to hide
