"""Initialisation schemes (S1.7).

Statistical checks draw from fixed generator seeds, so they are deterministic: a
Kolmogorov-Smirnov test at alpha = 1e-6 plus loose moment bounds. Each check is paired
with a negative control showing that the same test rejects the wrong scheme.
"""

import math

import pytest
import torch
from embedspec.reference import INIT_SCHEMES, Embedding, init_scaled_embedding, init_weight_
from embedspec.reference.init import check_init_scheme, init_bound
from scipy import stats

ALPHA = 1e-6
V, D = 400, 25  # 10 000 draws


def draw(scheme: str, seed: int = 0, shape: tuple[int, int] = (V, D)) -> torch.Tensor:
    weight = torch.empty(shape, dtype=torch.float64)
    return init_weight_(weight, scheme, generator=torch.Generator().manual_seed(seed))


EXPECTED = {
    "normal": stats.norm(0.0, 1.0),
    "scaled_normal": stats.norm(0.0, D**-0.5),
    "xavier_uniform": stats.uniform(-math.sqrt(6 / (V + D)), 2 * math.sqrt(6 / (V + D))),
}


def ks_pvalue(sample: torch.Tensor, distribution) -> float:
    return stats.kstest(sample.flatten().numpy(), distribution.cdf).pvalue


def test_the_named_schemes():
    assert set(INIT_SCHEMES) == {"normal", "xavier_uniform", "scaled_normal"}


@pytest.mark.parametrize("scheme", sorted(EXPECTED))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scheme_fits_its_distribution(scheme, seed):
    sample = draw(scheme, seed)
    assert ks_pvalue(sample, EXPECTED[scheme]) > ALPHA
    spread = init_bound(scheme, V, D)
    std = spread / math.sqrt(3) if scheme == "xavier_uniform" else spread
    assert abs(sample.mean().item()) < 6 * std / math.sqrt(sample.numel())
    assert sample.std().item() == pytest.approx(std, rel=0.05)


@pytest.mark.parametrize("scheme", sorted(EXPECTED))
def test_ks_test_rejects_the_other_schemes(scheme):
    sample = draw(scheme)
    for other, distribution in EXPECTED.items():
        if other != scheme:
            assert ks_pvalue(sample, distribution) < ALPHA


def test_xavier_uniform_bound():
    sample = draw("xavier_uniform")
    bound = math.sqrt(6 / (V + D))
    assert sample.abs().max().item() <= bound
    assert sample.abs().max().item() > 0.99 * bound
    assert init_bound("xavier_uniform", V, D) == pytest.approx(bound, rel=1e-15)


def test_same_draws_as_torch():
    ours = draw("xavier_uniform", seed=4, shape=(30, 7))
    theirs = torch.empty(30, 7, dtype=torch.float64)
    torch.nn.init.xavier_uniform_(theirs, generator=torch.Generator().manual_seed(4))
    assert torch.equal(ours, theirs)
    ours = draw("normal", seed=4, shape=(30, 7))
    theirs = torch.empty(30, 7, dtype=torch.float64).normal_(
        generator=torch.Generator().manual_seed(4))
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("scheme", sorted(EXPECTED))
@pytest.mark.parametrize(("padding_idx", "row"), [(0, 0), (7, 7), (-1, 9), (-10, 0)])
def test_padding_row_is_zeroed_after_every_scheme(scheme, padding_idx, row):
    weight = torch.empty(10, 6)
    init_weight_(weight, scheme, padding_idx=padding_idx,
                 generator=torch.Generator().manual_seed(0))
    assert torch.equal(weight[row], torch.zeros(6))
    others = torch.cat([weight[:row], weight[row + 1:]])
    assert torch.count_nonzero(others) == others.numel()


def test_padding_row_is_zeroed_after_a_user_callable():
    weight = torch.empty(4, 3, requires_grad=True)
    returned = init_weight_(weight, torch.nn.init.ones_, padding_idx=2)
    assert returned is weight
    assert weight.detach().tolist() == [[1.0] * 3, [1.0] * 3, [0.0] * 3, [1.0] * 3]


def test_user_callable_receives_the_weight_under_no_grad():
    seen = []

    def fill(weight):
        seen.append((weight.shape, torch.is_grad_enabled()))
        weight.fill_(0.5)

    layer = Embedding(3, 2, init=fill)
    assert seen == [(torch.Size([3, 2]), False)]
    assert layer.weight.detach().tolist() == [[0.5, 0.5]] * 3


def test_generator_makes_draws_reproducible():
    assert torch.equal(draw("scaled_normal", 9), draw("scaled_normal", 9))
    assert not torch.equal(draw("scaled_normal", 9), draw("scaled_normal", 10))


@pytest.mark.parametrize("scheme", sorted(EXPECTED))
@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (0, 0)])
def test_empty_tables(scheme, shape):
    assert init_weight_(torch.empty(shape), scheme).shape == shape


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_tables(dtype):
    weight = init_weight_(torch.empty(50, 8, dtype=dtype), "xavier_uniform", padding_idx=0)
    assert weight.dtype == dtype
    assert weight.float().abs().max().item() <= math.sqrt(6 / 58) * 1.01
    assert torch.count_nonzero(weight[0]) == 0


@pytest.mark.parametrize(("scheme", "padding_idx", "match"), [
    ("uniform", None, "scheme"),
    (None, None, "scheme"),
    ("normal", 10, "padding_idx"),
    ("normal", 1.0, "padding_idx"),
])
def test_bad_arguments_are_value_errors_and_leave_the_weight(scheme, padding_idx, match):
    weight = torch.full((10, 2), 3.0)
    with pytest.raises(ValueError, match=match):
        init_weight_(weight, scheme, padding_idx=padding_idx)
    assert torch.equal(weight, torch.full((10, 2), 3.0))


def test_bad_weights_are_value_errors():
    with pytest.raises(ValueError, match="2-D"):
        init_weight_(torch.empty(3), "normal")
    with pytest.raises(ValueError, match="floating"):
        init_weight_(torch.empty(3, 2, dtype=torch.long), "normal")


def test_check_init_scheme():
    assert check_init_scheme("normal") == "normal"
    assert check_init_scheme(torch.nn.init.zeros_) is torch.nn.init.zeros_
    with pytest.raises(ValueError, match="init"):
        check_init_scheme("Normal")


def test_layer_schemes():
    torch.manual_seed(0)
    xavier = Embedding(V, D, init="xavier_uniform", padding_idx=3)
    assert xavier.weight.abs().max().item() <= math.sqrt(6 / (V + D))
    assert torch.count_nonzero(xavier.weight[3]) == 0
    scaled = Embedding(V, D, init="scaled_normal").weight.detach().double()
    assert ks_pvalue(scaled, EXPECTED["scaled_normal"]) > ALPHA


def test_init_scaled_embedding():
    layer = Embedding(V, D, padding_idx=-1, dtype=torch.float64)
    torch.manual_seed(0)
    init_scaled_embedding(layer)
    assert torch.count_nonzero(layer.weight[V - 1]) == 0
    body = layer.weight.detach()[: V - 1]
    assert ks_pvalue(body, EXPECTED["scaled_normal"]) > ALPHA
    assert ks_pvalue(body, EXPECTED["normal"]) < ALPHA
    with pytest.raises(TypeError, match="weight"):
        init_scaled_embedding(torch.nn.ReLU())
