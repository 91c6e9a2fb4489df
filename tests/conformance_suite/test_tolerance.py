"""The tolerance policy is sound: every bound holds between the reference and other
correct implementations (other summation orders, wider accumulators, fused kernels),
including inputs built to provoke rounding, and it stays exact where it must."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks import tolerance
from embedspec.conformance.checks.assertions import assert_within
from embedspec.reference.binary import pack
from embedspec.reference.embedding import dense_weight_grad, renorm_
from embedspec.reference.stable import LAYER_NORM_EPS, stable_embedding
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FLOAT_NAMES = xs.DTYPE_NAMES


# -- the formula ----------------------------------------------------------------------------


def test_allowed_is_zero_without_terms_or_magnitude():
    assert float(tolerance.allowed(0, 5.0, torch.float16)) == 0.0
    assert float(tolerance.allowed(7, 0.0, torch.float16)) == 0.0


def test_allowed_grows_with_terms_magnitude_and_epsilon():
    small = float(tolerance.allowed(2, 1.0, torch.float32))
    assert float(tolerance.allowed(4, 1.0, torch.float32)) > small
    assert float(tolerance.allowed(2, 3.0, torch.float32)) > small
    assert float(tolerance.allowed(2, 1.0, torch.bfloat16)) > small
    expected = tolerance.FACTOR * 2 * (torch.finfo(torch.float32).eps + tolerance.tiny(
        torch.float32))
    assert math.isclose(small, expected)


def test_allowed_refuses_negative_inputs():
    with pytest.raises(ValueError):
        tolerance.allowed(-1, 1.0, torch.float32)


def test_epsilon_and_tiny():
    assert tolerance.eps(torch.float16) == 2.0**-10
    assert tolerance.tiny(torch.float16) == 2.0**-24
    assert tolerance.tiny(torch.bfloat16) == 2.0**-133


def test_bound_rows_gathers_per_row_terms_and_magnitudes():
    bound = tolerance.Bound.of(torch.tensor([[0.0], [2.0], [3.0]]), torch.ones(3, 4),
                               torch.float32)
    gathered = bound.rows(torch.tensor([[2, 0]]))
    allowed = gathered.allowed((1, 2, 4))
    assert allowed.shape == (1, 2, 4)
    assert bool((allowed[0, 1] == 0).all()) and bool((allowed[0, 0] > 0).all())


def test_sums_of_bounds_add():
    a = tolerance.Bound.of(1.0, 1.0, torch.float32)
    b = tolerance.Bound.of(1.0, 1.0, torch.float16)
    assert float((a + b).allowed()) == float(a.allowed()) + float(b.allowed())
    assert float(tolerance.Bound().allowed()) == 0.0


def test_describe_states_the_policy():
    text = tolerance.describe()
    for phrase in ("bitwise exact", "terms", "magnitude", "exactly zero",
                   "deterministic_backward", "S0.7"):
        assert phrase in text


# -- weight gradients -------------------------------------------------------------------------


@st.composite
def _gradient_problems(draw, dtype):
    rows = draw(st.integers(1, 6), label="rows")
    dim = draw(st.integers(1, 4), label="dim")
    indices = draw(xs.index_tensors(rows, distributions=("zipf", "duplicates", "uniform"),
                                    max_numel=24), label="indices")
    grad = draw(xs.float_tensors((*indices.shape, dim), dtype), label="grad")
    padding = draw(st.one_of(st.none(), st.integers(0, rows - 1)), label="padding")
    return rows, indices, grad, padding


def _alternative_gradients(indices, grad, rows, padding, freq):
    """Other correct ways to compute the dense gradient, each rounded to grad's dtype."""
    ids = indices.reshape(-1).long()
    flat = grad.reshape(-1, grad.shape[-1])
    dtype = grad.dtype
    counts = torch.bincount(ids, minlength=rows)
    keep = ids != padding if padding is not None else torch.ones_like(ids, dtype=torch.bool)
    out = {}
    wider = [torch.float64] + ([torch.float32] if dtype != torch.float64 else [])
    for acc in wider:
        name = str(acc).removeprefix("torch.")
        values = flat.to(acc)
        if freq:
            values = values / counts[ids].unsqueeze(1).to(acc)
        total = torch.zeros(rows, flat.shape[1], dtype=acc).index_add_(0, ids[keep],
                                                                      values[keep])
        out[name] = total.to(dtype)
    order = torch.arange(ids.numel() - 1, -1, -1)
    values = flat[order]
    if freq:  # a reciprocal multiplication instead of a division
        values = values * (1.0 / counts[ids[order]].to(torch.float64)).unsqueeze(1).to(dtype)
    mask = keep[order]
    out["reversed"] = torch.zeros(rows, flat.shape[1], dtype=dtype).index_add_(
        0, ids[order][mask], values[mask])
    return out


@pytest.mark.parametrize("freq", [False, True], ids=["plain", "freq"])
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@PROPERTY
@given(data=st.data())
def test_weight_gradient_bound_holds_across_summation_orders(dtype, freq, data):
    rows, indices, grad, padding = data.draw(_gradient_problems(dtype), label="problem")
    reference = dense_weight_grad(grad, indices.reshape(-1), rows, padding, freq)
    bound = tolerance.weight_gradient(indices, grad, rows, padding_idx=padding,
                                      scale_grad_by_freq=freq, dtype=grad.dtype)
    for name, other in _alternative_gradients(indices, grad, rows, padding, freq).items():
        assert_within(other, reference, bound, what=f"{name} gradient")


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@PROPERTY
@given(data=st.data())
def test_weight_gradient_bound_holds_for_torch_embedding_backward(dtype, data):
    rows, indices, grad, padding = data.draw(_gradient_problems(dtype), label="problem")
    weight = torch.zeros(rows, grad.shape[-1], dtype=grad.dtype, requires_grad=True)
    torch.embedding(weight, indices.long(), -1 if padding is None else padding).backward(grad)
    reference = dense_weight_grad(grad, indices.reshape(-1), rows, padding, False)
    bound = tolerance.weight_gradient(indices, grad, rows, padding_idx=padding,
                                      dtype=grad.dtype)
    assert_within(weight.grad, reference, bound, what="torch.embedding backward")


def test_weight_gradient_bound_is_exact_for_untouched_and_padding_rows():
    indices = torch.tensor([0, 0, 2, 2])
    grad = torch.ones(4, 3)
    bound = tolerance.weight_gradient(indices, grad, 4, padding_idx=2, dtype=torch.float32)
    allowed = bound.allowed((4, 3))
    assert bool((allowed[1:] == 0).all())
    assert bool((allowed[0] > 0).all())
    single = tolerance.weight_gradient(torch.tensor([1]), grad[:1], 3, dtype=torch.float32)
    assert bool((single.allowed((3, 3)) == 0).all()), "one contribution is exact"


# -- max_norm renorm ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@PROPERTY
@given(data=st.data())
def test_renorm_bound_holds_against_a_float64_renorm(dtype, data):
    rows = data.draw(st.integers(1, 6), label="rows")
    dim = data.draw(st.integers(1, 9), label="dim")
    weight = data.draw(xs.tables(rows, dim, dtype), label="weight")
    indices = data.draw(xs.index_tensors(rows), label="indices")
    max_norm = data.draw(xs.MAX_NORMS, label="max_norm")
    norm_type = data.draw(xs.NORM_TYPES, label="norm_type")
    reference = weight.clone()
    renorm_(reference, indices, max_norm, norm_type)
    norms = tolerance.row_norms(weight, norm_type)
    factors = torch.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    ids = torch.unique(indices.reshape(-1).long())
    other = weight.clone()
    other[ids] = (weight[ids].double() * factors[ids].unsqueeze(1)).to(weight.dtype)
    result = tolerance.renormalisation(weight, indices, max_norm, norm_type)
    decided = ~result.ambiguous
    assert_within(other[decided], reference[decided], result.bound.rows(
        decided.nonzero().reshape(-1)), what="float64 renorm")


def test_renorm_ambiguity_is_a_rounding_window_and_equality_is_decided():
    weight = torch.tensor([[3.0, 4.0], [3.0, 4.0000005], [3.0, 4.1], [0.0, 0.0]])
    result = tolerance.renormalisation(weight, torch.tensor([0, 1, 2, 3]), 5.0, 2.0)
    assert result.ambiguous.tolist() == [False, True, False, False]
    assert result.referenced.tolist() == [True, True, True, True]
    unreferenced = tolerance.renormalisation(weight, torch.tensor([2]), 5.0, 2.0)
    assert unreferenced.referenced.tolist() == [False, False, True, False]
    allowed = unreferenced.bound.allowed((4, 2))
    assert bool((allowed[[0, 1, 3]] == 0).all())


# -- layer norm -------------------------------------------------------------------------------


@st.composite
def _layer_norm_rows(draw, dtype):
    positions = draw(st.integers(1, 6), label="positions")
    dim = draw(st.integers(1, 9), label="dim")
    rows = draw(xs.float_tensors((positions, dim), dtype), label="rows")
    offset = draw(st.sampled_from([0.0, 1.0, 64.0, -1000.0]), label="offset")
    rows = (rows.double() + offset).to(rows.dtype)  # large means against small spreads
    gamma = draw(xs.float_tensors((dim,), "float32"), label="gamma")
    beta = draw(xs.float_tensors((dim,), "float32"), label="beta")
    return rows, gamma, beta


def _layer_norm(rows, gamma, beta, compute):
    return F.layer_norm(rows.to(compute), rows.shape[-1:], gamma.to(compute), beta.to(compute),
                        LAYER_NORM_EPS)


def _two_pass_layer_norm(rows, gamma, beta):
    """Statistics in float32 in another order: the mean, then the variance of the centred
    values, summed from the last column to the first."""
    x = rows.to(torch.float32).flip(-1)
    mean = x.sum(-1, keepdim=True) / x.shape[-1]
    centred = x - mean
    var = centred.square().sum(-1, keepdim=True) / x.shape[-1]
    out = centred * torch.rsqrt(var + LAYER_NORM_EPS) * gamma.flip(-1) + beta.flip(-1)
    return out.flip(-1)


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@PROPERTY
@given(data=st.data())
def test_layer_norm_output_bound_holds_across_implementations(dtype, data):
    rows, gamma, beta = data.draw(_layer_norm_rows(dtype), label="problem")
    compute = torch.float64 if rows.dtype == torch.float64 else torch.float32
    reference = _layer_norm(rows, gamma, beta, compute).to(rows.dtype)
    bound = tolerance.layer_norm_output(rows, gamma, beta, LAYER_NORM_EPS, dtype=rows.dtype,
                                        compute_dtype=compute)
    exact = _layer_norm(rows, gamma, beta, torch.float64).to(rows.dtype)
    assert_within(exact, reference, bound, what="float64 layer norm")
    if compute == torch.float32:
        other = _two_pass_layer_norm(rows, gamma, beta).to(rows.dtype)
        assert_within(other, reference, bound, what="two-pass layer norm")


def test_layer_norm_bound_is_tight_for_constant_rows():
    """A constant row normalises to exactly zero: the output is the bias, and an error of
    one is far outside the bound."""
    rows = torch.tensor([[3.0, 3.0]], dtype=torch.bfloat16)
    bound = tolerance.layer_norm_output(rows, torch.tensor([1.0, 2.0]), torch.tensor([0.0, -1.0]),
                                        LAYER_NORM_EPS, dtype=torch.bfloat16,
                                        compute_dtype=torch.float32)
    assert float(bound.allowed((1, 2)).max()) < 0.05


def _stable_grads(weight, gamma, beta, indices, grad, padding, table_dtype, norm_dtype):
    """Gradients of the stable embedding with its table in ``table_dtype`` and its norm
    parameters in ``norm_dtype``."""
    w = weight.detach().to(table_dtype).requires_grad_()
    g = gamma.detach().to(norm_dtype).requires_grad_()
    b = beta.detach().to(norm_dtype).requires_grad_()
    stable_embedding(indices, w, g, b, padding_idx=padding).backward(grad.to(table_dtype))
    return {"weight": w.grad, "norm.weight": g.grad, "norm.bias": b.grad}


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@PROPERTY
@given(data=st.data())
def test_layer_norm_gradient_bounds_hold_against_float64(dtype, data):
    rows = data.draw(st.integers(1, 5), label="rows")
    dim = data.draw(st.integers(1, 6), label="dim")
    weight = data.draw(xs.tables(rows, dim, dtype), label="weight")
    offset = data.draw(st.sampled_from([0.0, 32.0]), label="offset")
    weight = (weight.double() + offset).to(weight.dtype)
    gamma = data.draw(xs.float_tensors((dim,), "float32"), label="gamma")
    beta = data.draw(xs.float_tensors((dim,), "float32"), label="beta")
    indices = data.draw(xs.index_tensors(rows, distributions=("zipf", "uniform")),
                        label="indices")
    grad = data.draw(xs.float_tensors((*indices.shape, dim), dtype), label="grad")
    padding = data.draw(st.one_of(st.none(), st.integers(0, rows - 1)), label="padding")
    norm_dtype = torch.float64 if weight.dtype == torch.float64 else torch.float32
    reference = _stable_grads(weight, gamma, beta, indices, grad, padding, weight.dtype,
                              norm_dtype)
    exact = _stable_grads(weight, gamma, beta, indices, grad, padding, torch.float64,
                          torch.float64)
    bounds = tolerance.layer_norm_gradients(
        weight[indices.long()], gamma, grad, indices, rows, LAYER_NORM_EPS, padding_idx=padding,
        dtype=weight.dtype, norm_dtype=norm_dtype)
    assume(all(bool(torch.isfinite(g).all()) for g in reference.values()))  # no overflow
    for name, want in reference.items():
        assert_within(exact[name].to(want.dtype), want, bounds[name], what=name)


# -- binary ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@PROPERTY
@given(data=st.data())
def test_binary_scale_bound_holds_for_a_float32_mean(dtype, data):
    rows = data.draw(st.integers(1, 6), label="rows")
    dim = data.draw(st.integers(1, 40), label="dim")
    weight = data.draw(xs.tables(rows, dim, dtype), label="weight")
    _, scale = pack(weight)
    float32_mean = weight.float().abs().flip(1).sum(dim=1) / dim
    assert_within(float32_mean, scale, tolerance.binary_scale(scale, dim), what="scale")


def test_binary_padding_row_scale_is_exact():
    bound = tolerance.binary_scale(torch.tensor([0.0, 2.0]), 5)
    assert bound.allowed((2,)).tolist()[0] == 0.0
    output = tolerance.binary_output(torch.tensor([0.0, 2.0]), 5, dtype=torch.float16)
    assert output.rows(torch.tensor([0, 0])).allowed((2, 5)).abs().sum() == 0


# -- statistics of initialisation ---------------------------------------------------------


def _sample(scheme: str, rows: int, cols: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    from embedspec.reference.init import init_weight_

    generator = torch.Generator().manual_seed(seed)
    return init_weight_(torch.empty(rows, cols, dtype=dtype), scheme, generator=generator)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("scheme", ["normal", "xavier_uniform", "scaled_normal"])
def test_statistical_checks_accept_every_seed_of_the_right_law(scheme, dtype):
    from embedspec.conformance.checks.init_statistics import assert_follows, scheme_distribution

    law = scheme_distribution(scheme, 96, 64)
    for seed in range(25):
        assert_follows(_sample(scheme, 96, 64, seed, dtype), law,
                       alpha=tolerance.STATISTICAL_ALPHA)


@pytest.mark.parametrize(("drawn", "claimed"), [
    ("normal", "scaled_normal"), ("scaled_normal", "normal"), ("xavier_uniform", "normal"),
    ("normal", "xavier_uniform"), ("scaled_normal", "xavier_uniform"),
])
def test_statistical_checks_reject_another_law(drawn, claimed):
    from embedspec.conformance.checks.init_statistics import assert_follows, scheme_distribution

    with pytest.raises(AssertionError, match=claimed):
        assert_follows(_sample(drawn, 96, 64, 0), scheme_distribution(claimed, 96, 64),
                       alpha=tolerance.STATISTICAL_ALPHA)


def test_statistical_checks_reject_a_shifted_or_constant_table():
    from embedspec.conformance.checks.init_statistics import assert_follows, scheme_distribution

    law = scheme_distribution("normal", 96, 64)
    with pytest.raises(AssertionError, match="mean"):
        assert_follows(_sample("normal", 96, 64, 0) + 0.2, law,
                       alpha=tolerance.STATISTICAL_ALPHA)
    with pytest.raises(AssertionError):
        assert_follows(torch.full((96, 64), 0.5), law, alpha=tolerance.STATISTICAL_ALPHA)


def test_kolmogorov_pvalue_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    from embedspec.conformance.checks.init_statistics import kolmogorov_pvalue

    for n, statistic in ((100, 0.05), (1000, 0.03), (5000, 0.02), (6000, 0.04)):
        exact = scipy_stats.kstwo.sf(statistic, n)
        assert math.isclose(kolmogorov_pvalue(statistic, n), exact, rel_tol=0.05, abs_tol=1e-12)


def test_stacked_bounds_keep_each_sample_bound():
    first = tolerance.Bound.of(torch.tensor([[1.0], [0.0]]), torch.ones(2, 3), torch.float32)
    second = tolerance.Bound.of(2.0, torch.full((2, 3), 4.0), torch.float32)
    stacked = tolerance.stack([first, second], (2, 3))
    assert stacked.allowed().shape == (2, 2, 3)
    assert torch.equal(stacked.allowed()[0], first.allowed((2, 3)))
    assert torch.equal(stacked.allowed()[1], second.allowed((2, 3)))
    with pytest.raises(ValueError, match="different rules"):
        tolerance.stack([first, first + second], (2, 3))


def test_lookup_tangent_bound_allows_a_rounding_only_for_repeated_ids_under_scaling():
    ids = torch.tensor([[0, 1], [0, 2]])
    tangent = torch.ones(2, 2, 3)
    assert not bool(tolerance.lookup_tangent(ids, tangent, 4).allowed((2, 2, 3)).any())
    allowed = tolerance.lookup_tangent(ids, tangent, 4, scale_grad_by_freq=True).allowed(
        (2, 2, 3))
    assert bool((allowed[ids == 0] > 0).all()) and not bool(allowed[ids != 0].any())
