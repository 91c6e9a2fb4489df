"""The ``reference`` and ``torch_nn`` adapter backends.

For ``torch_nn`` this checks both directions of its contract: on valid input it agrees
with the reference (same state dict layout, same forward, same gradients), and every
divergence its :mod:`~embedspec.backends.torch_nn.divergences` module declares really
shows, while the reference follows the spec at the same point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from embedspec.backends.contract import (
    DTYPES,
    FEATURES,
    MULTI_PROCESS_FEATURES,
    BuildContext,
    Capability,
)
from embedspec.backends.reference_backend import ReferenceBackend
from embedspec.backends.torch_nn import BitsandbytesStableEmbedding, TorchNNBackend
from embedspec.backends.torch_nn.divergences import (
    DIVERGENCE_IDS,
    DIVERGENCES,
    by_id,
    expected_at,
)
from embedspec.conformance.checks.execute import default_dtype
from embedspec.reference import embedding as embedspec_embedding
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    LayerConfig,
    ShardedConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)

DIVERGENCES_DOC = Path(__file__).resolve().parents[2] / "docs" / "spec" / "divergences.md"
CPU = BuildContext()
REFERENCE = ReferenceBackend()
TORCH_NN = TorchNNBackend()
CONFIG_TYPES = {"embedding": EmbeddingConfig, "stable": StableEmbeddingConfig}


def _pair(config: LayerConfig, seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The reference layer and the torch_nn layer for ``config``, holding the same state."""
    torch.manual_seed(seed)
    reference = REFERENCE.build(config, CPU)
    adapter = TORCH_NN.build(config, CPU)
    adapter.load_state_dict(reference.state_dict())
    return reference, adapter


def _layout(layer: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in layer.state_dict().items()}


def _state(layer: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in layer.state_dict().items()}


def _same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- reference


def test_reference_declares_every_single_process_point() -> None:
    capabilities = REFERENCE.capabilities()
    assert REFERENCE.availability().available
    assert capabilities.families() == sorted(FEATURES)
    for family, features in FEATURES.items():
        for feature in features:
            for dtype in DTYPES:
                point = Capability(family, feature, dtype, "cpu")
                multi_process = feature in MULTI_PROCESS_FEATURES.get(family, ())
                assert (point in capabilities) != multi_process, point
    assert any(p.device == "cuda" for p in capabilities) == torch.cuda.is_available()


def test_reference_binary_through_the_backend() -> None:
    layer = REFERENCE.build(BinaryConfig(5, 10, padding_idx=0), CPU)
    ids = torch.tensor([[0, 4], [2, 2]])
    assert torch.equal(layer(ids), layer.forward_packed(ids))
    assert layer.packed().qweight.shape == (5, 2)


class _RankOfTwo:
    """Collectives of rank 1 in a world of two, for checking what the backend passes on."""

    rank = 1
    world_size = 2

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def all_gather_last_dim(self, tensor: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        return tensor

    def all_reduce_no_grad(self, tensor: torch.Tensor, op: str) -> torch.Tensor:
        return tensor


def test_reference_multi_rank_needs_collectives() -> None:
    config = VocabParallelConfig(16, 4, padding_size=4)
    context = BuildContext(rank=1, world_size=2)
    with pytest.raises(ValueError, match="collectives_factory"):
        REFERENCE.build(config, context)
    seen: list[BuildContext] = []
    collectives = _RankOfTwo()

    def factory(ctx: BuildContext) -> _RankOfTwo:
        seen.append(ctx)
        return collectives

    layer = ReferenceBackend(collectives_factory=factory).build(config, context)
    assert seen == [context]
    assert layer.collectives is collectives
    assert layer.weight.shape == (8, 4)


def test_reference_rejects_worlds_it_cannot_build() -> None:
    with pytest.raises(ValueError, match="single-process"):
        REFERENCE.build(EmbeddingConfig(4, 3), BuildContext(rank=0, world_size=2))
    with pytest.raises(ValueError, match="dp_size"):
        REFERENCE.build(ShardedConfig(4, 3), BuildContext(dp_rank=0, dp_size=2))


# --------------------------------------------------------------------------- torch_nn


def test_torch_nn_declares_embedding_and_stable_on_cpu() -> None:
    capabilities = TORCH_NN.capabilities()
    assert TORCH_NN.availability().available
    assert capabilities.families() == ["embedding", "stable"]
    assert {p.device for p in capabilities} == {"cpu"}
    for family in ("embedding", "stable"):
        for feature in FEATURES[family]:
            for dtype in ("float32", "float64"):
                assert capabilities.supports(family, feature, dtype, "cpu")
    # This torch runs half-precision embeddings on CPU (max_norm and backward included).
    assert capabilities.supports("embedding", "max_norm", "float16", "cpu")
    assert capabilities.supports("stable", "backward", "bfloat16", "cpu")


def test_torch_nn_builds_plain_torch_modules() -> None:
    layer = TORCH_NN.build(EmbeddingConfig(5, 3, padding_idx=1, max_norm=2.0), CPU)
    assert type(layer) is torch.nn.Embedding
    assert (layer.padding_idx, layer.max_norm) == (1, 2.0)
    stable = TORCH_NN.build(StableEmbeddingConfig(5, 3), CPU)
    assert isinstance(stable, BitsandbytesStableEmbedding)
    assert stable.norm.eps == 1e-5
    with pytest.raises(ValueError, match="BinaryConfig"):
        TORCH_NN.build(BinaryConfig(5, 3), CPU)
    with pytest.raises(ValueError, match="single-process"):
        TORCH_NN.build(EmbeddingConfig(5, 3), BuildContext(rank=0, world_size=2))


LAYOUT_CONFIGS = [
    EmbeddingConfig(6, 4),
    EmbeddingConfig(0, 3),
    EmbeddingConfig(6, 0, padding_idx=-2),
    EmbeddingConfig(6, 4, dtype=torch.float64, sparse=True),
    StableEmbeddingConfig(6, 4, padding_idx=0),
    StableEmbeddingConfig(3, 7, dtype=torch.float16),
]


@pytest.mark.parametrize("config", LAYOUT_CONFIGS, ids=str)
def test_torch_nn_has_the_reference_layout(config: LayerConfig) -> None:
    reference = REFERENCE.build(config, CPU)
    adapter = TORCH_NN.build(config, CPU)
    assert _layout(adapter) == _layout(reference)
    assert adapter.weight.dtype == reference.weight.dtype
    adapter.load_state_dict(reference.state_dict())


FORWARD_CONFIGS = [
    EmbeddingConfig(9, 5),
    EmbeddingConfig(9, 5, padding_idx=-1),
    EmbeddingConfig(9, 5, max_norm=1.0),
    EmbeddingConfig(9, 5, max_norm=0.7, norm_type=1.0),
    EmbeddingConfig(9, 5, max_norm=0.7, norm_type=math.inf),
    EmbeddingConfig(9, 5, max_norm=1.5, norm_type=3.0, padding_idx=2),
    EmbeddingConfig(9, 5, scale_grad_by_freq=True, padding_idx=4),
    EmbeddingConfig(9, 5, dtype=torch.float64, max_norm=1.0),
    EmbeddingConfig(9, 5, dtype=torch.float16),
    EmbeddingConfig(9, 5, dtype=torch.bfloat16, padding_idx=0),
    StableEmbeddingConfig(9, 5),
    StableEmbeddingConfig(9, 5, padding_idx=3, max_norm=0.5),
    StableEmbeddingConfig(9, 5, dtype=torch.float16),
    StableEmbeddingConfig(9, 5, dtype=torch.bfloat16, scale_grad_by_freq=True),
]


@pytest.mark.parametrize("config", FORWARD_CONFIGS, ids=str)
def test_torch_nn_agrees_on_valid_input(config: LayerConfig) -> None:
    reference, adapter = _pair(config)
    ids = torch.tensor([[0, 4, 2, 4], [8, 3, 4, 1]])
    ids_int32 = ids.int()
    for layer in (reference, adapter):
        layer.train()
    expected = reference(ids)
    got = adapter(ids_int32)
    assert got.dtype == expected.dtype
    assert torch.equal(got, expected)
    assert _same_state(adapter.state_dict(), reference.state_dict())  # renorm included
    grad = torch.randn(expected.shape).to(expected.dtype)
    expected.backward(grad)
    got.backward(grad)
    # Up to 3 repeats of an id: PyTorch CPU accumulates in the weight dtype, so half
    # precision differs by rounding within the accumulation bound (F1.5, S0.7).
    eps = torch.finfo(expected.dtype).eps
    bound = 3 * eps * 3 * grad.abs().max().item() if eps > 1e-4 else None
    for name, parameter in reference.named_parameters():
        other = dict(adapter.named_parameters())[name]
        torch.testing.assert_close(other.grad, parameter.grad, atol=bound,
                                   rtol=None if bound is None else 0)
    for shape in [(), (0,), (3, 1, 2)]:
        small = torch.randint(0, 9, shape)
        assert torch.equal(adapter(small), reference(small))


def test_torch_nn_sparse_gradient_agrees_after_coalescing() -> None:
    reference, adapter = _pair(EmbeddingConfig(9, 5, sparse=True, padding_idx=1))
    ids = torch.tensor([3, 1, 3, 0, 8])
    grad = torch.randn(5, 5)
    reference(ids).backward(grad)
    adapter(ids).backward(grad)
    assert adapter.weight.grad.is_sparse
    torch.testing.assert_close(adapter.weight.grad.coalesce().to_dense(),
                               reference.weight.grad.coalesce().to_dense())


@pytest.mark.parametrize(
    ("config", "check"),
    [
        (EmbeddingConfig(400, 60), lambda w: abs(w.std().item() - 1.0) < 0.02),
        (EmbeddingConfig(400, 60, init="scaled_normal"),
         lambda w: abs(w.std().item() * math.sqrt(60) - 1.0) < 0.02),
        (EmbeddingConfig(400, 60, init="xavier_uniform"),
         lambda w: w.abs().max().item() <= math.sqrt(6 / 460)
         and w.abs().max().item() > 0.95 * math.sqrt(6 / 460)),
        (StableEmbeddingConfig(400, 60),
         lambda w: w.abs().max().item() <= math.sqrt(6 / 460)
         and w.abs().max().item() > 0.95 * math.sqrt(6 / 460)),
        (StableEmbeddingConfig(400, 60, init=lambda w: w.fill_(2.0)),
         lambda w: bool((w[:7] == 2.0).all())),
    ],
)
def test_torch_nn_init_schemes(config: LayerConfig, check: Callable) -> None:
    config = config.replace(padding_idx=7)
    layer = TORCH_NN.build(config, CPU)
    weight = layer.weight.detach()
    assert torch.equal(weight[7], torch.zeros(60))
    assert check(torch.cat([weight[:7], weight[8:]]))


def test_torch_nn_unknown_init_name() -> None:
    with pytest.raises(ValueError, match="init"):
        TORCH_NN.build(EmbeddingConfig(4, 3, init="uniform"), CPU)
    assert TORCH_NN.build(StableEmbeddingConfig(0, 0), CPU).weight.shape == (0, 0)


# --------------------------------------------------------------------------- divergences
#
# One demonstration per declared divergence: what torch_nn does, and that the reference
# follows the spec at the same point. ``family`` is each family the divergence's rows name.


def _config(family: str, **kwargs: object) -> LayerConfig:
    return CONFIG_TYPES[family](num_embeddings=6, embedding_dim=4, **kwargs)


def _big_rows(layer: torch.nn.Module) -> None:
    with torch.no_grad():
        layer.weight.copy_(torch.arange(24, dtype=torch.float32).reshape(6, 4) + 3.0)


def show_index_dtype(family: str) -> None:
    reference, adapter = _pair(_config(family))
    for dtype in (torch.int16, torch.uint8, torch.bool, torch.float32, torch.float64):
        ids = torch.tensor([1, 0]).to(dtype)
        with pytest.raises(RuntimeError, match="Long, Int"):
            adapter(ids)
        with pytest.raises(TypeError):
            reference(ids)


def show_error_atomicity(family: str) -> None:
    for ids, changed_row in ((torch.tensor([-1]), 5), (torch.tensor([-3]), 3),
                             (torch.tensor([2, 6]), 2), (torch.tensor([0, 9, 4]), 0)):
        reference, adapter = _pair(_config(family, max_norm=1.0))
        _big_rows(reference)
        _big_rows(adapter)
        before = _state(adapter)
        with pytest.raises(IndexError):
            adapter(ids)
        with pytest.raises(IndexError):
            reference(ids)
        assert _same_state(_state(reference), before)
        changed = (adapter.weight.detach() != before["weight"]).any(dim=1)
        assert changed[changed_row], (ids, changed_row)
        assert torch.linalg.vector_norm(adapter.weight.detach()[changed_row]) <= 1.0 + 1e-6


def show_padding_idx_error(family: str) -> None:
    with pytest.raises(AssertionError):
        TORCH_NN.build(_config(family, padding_idx=6), CPU)
    with pytest.raises(AssertionError):
        TORCH_NN.build(_config(family, padding_idx=-7), CPU)
    with pytest.raises(IndexError):
        TORCH_NN.build(_config(family, padding_idx=1.5), CPU)
    assert TORCH_NN.build(_config(family, padding_idx=True), CPU).padding_idx is True
    for bad in (6, -7, 1.5, True):
        with pytest.raises(ValueError, match="padding_idx"):
            REFERENCE.build(_config(family, padding_idx=bad), CPU)


def show_config_error(family: str) -> None:
    config_type = CONFIG_TYPES[family]
    with pytest.raises(RuntimeError):
        TORCH_NN.build(config_type(-1, 4), CPU)
    with pytest.raises(TypeError):
        TORCH_NN.build(config_type(2.5, 4), CPU)
    with pytest.raises(RuntimeError):
        TORCH_NN.build(config_type(6, 4, dtype=torch.int64), CPU)
    assert TORCH_NN.build(config_type(6, 4, sparse=1), CPU).sparse == 1
    for config, argument in ((config_type(-1, 4), "num_embeddings"),
                             (config_type(2.5, 4), "num_embeddings"),
                             (config_type(6, 4, dtype=torch.int64), "dtype"),
                             (config_type(6, 4, sparse=1), "sparse")):
        with pytest.raises(ValueError, match=argument):
            REFERENCE.build(config, CPU)


def show_max_norm_value(family: str) -> None:
    adapter = TORCH_NN.build(_config(family, max_norm=-1.0), CPU)
    _big_rows(adapter)
    before = adapter.weight.detach().clone()
    adapter(torch.tensor([2]))
    assert (adapter.weight.detach()[2] < 0).all() and (before[2] > 0).all()
    for value in (math.inf, math.nan):
        adapter = TORCH_NN.build(_config(family, max_norm=value), CPU)
        before = adapter.weight.detach().clone()
        adapter(torch.tensor([2, 3]))
        assert torch.equal(adapter.weight.detach(), before)
    for value in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="max_norm"):
            REFERENCE.build(_config(family, max_norm=value), CPU)


def show_norm_type_value(family: str) -> None:
    adapter = TORCH_NN.build(_config(family, max_norm=0.5, norm_type=0.0), CPU)
    _big_rows(adapter)
    before = adapter.weight.detach().clone()
    adapter(torch.tensor([1]))
    # The "0-norm" counts the 4 non-zero entries: factor 0.5 / (4 + 1e-7).
    torch.testing.assert_close(adapter.weight.detach()[1], before[1] * (0.5 / (4 + 1e-7)))
    for value in (-1.0, math.nan):
        adapter = TORCH_NN.build(_config(family, max_norm=0.5, norm_type=value), CPU)
        adapter(torch.tensor([1]))
    for value in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="norm_type"):
            REFERENCE.build(_config(family, max_norm=0.5, norm_type=value), CPU)


def show_sparse_freq(family: str) -> None:
    config = _config(family, sparse=True, scale_grad_by_freq=True)
    adapter = TORCH_NN.build(config, CPU)
    out = adapter(torch.tensor([1, 1, 2]))
    with pytest.raises(RuntimeError, match="scale_grad_by_freq"):
        out.sum().backward()
    with pytest.raises(ValueError, match="sparse"):
        REFERENCE.build(config, CPU)


def show_stable_norm_dtype(family: str) -> None:
    config = _config(family, dtype=torch.float64)
    reference, adapter = _pair(config, seed=3)
    with torch.no_grad():
        adapter.norm.weight.uniform_(0.5, 1.5)
        adapter.norm.bias.uniform_(-0.5, 0.5)
        reference.norm.weight.copy_(adapter.norm.weight)
        reference.norm.bias.copy_(adapter.norm.bias)
    ids = torch.tensor([[0, 1, 2], [3, 4, 5]])
    expected = reference(ids)
    got = adapter(ids)
    assert got.dtype == torch.float64
    difference = (got - expected).abs().max().item()
    assert 1e-12 < difference < 1e-5  # float32 rounding, far above float64's
    assert torch.equal(got, adapter.norm(reference.weight[ids].float()).double())
    # The cause is the global default dtype: built and run under float64, it agrees.
    with default_dtype(torch.float64):
        adapter64 = TORCH_NN.build(config, CPU)
        adapter64.load_state_dict(reference.state_dict())
        assert (adapter64(ids) - expected).abs().max().item() < 1e-12


def show_reset_normal(family: str) -> None:
    config = _config(family, init="scaled_normal").replace(num_embeddings=400,
                                                            embedding_dim=64)
    adapter = TORCH_NN.build(config, CPU)
    assert adapter.weight.std().item() < 0.2  # drawn by the scheme: N(0, 1/64)
    adapter.reset_parameters()
    assert adapter.weight.std().item() > 0.8  # reset: N(0, 1)
    reference = REFERENCE.build(config, CPU)
    reference.reset_parameters()
    assert reference.weight.std().item() < 0.2


def show_optimizer_hint(family: str) -> None:
    config = _config(family)
    assert getattr(TORCH_NN.build(config, CPU), "optimizer_overrides", None) is None
    assert REFERENCE.build(config, CPU).optimizer_overrides == {"weight": {"optim_bits": 32}}


def show_stable_from_pretrained(family: str) -> None:
    table = torch.randn(6, 4)
    adapter_class = type(TORCH_NN.build(_config(family), CPU))
    with pytest.raises(TypeError, match="_weight"):
        adapter_class.from_pretrained(table)
    layer = type(REFERENCE.build(_config(family), CPU)).from_pretrained(table)
    assert layer.weight.data_ptr() == table.data_ptr()


def show_sparse_0d_padding(family: str) -> None:
    config = _config(family, sparse=True, padding_idx=1)
    reference, adapter = _pair(config, seed=4)
    with pytest.raises(IndexError, match="too many indices"):
        adapter(torch.tensor(2)).sum().backward()
    adapter(torch.tensor([2])).sum().backward()  # the same id as a 1-element index works
    reference(torch.tensor(2)).sum().backward()
    assert reference.weight.grad.coalesce().indices().tolist() == [[2]]


def show_integer_table(family: str) -> None:
    table = torch.arange(12).reshape(6, 2)
    ids = torch.tensor([1, 4])
    layer = torch.nn.Embedding.from_pretrained(table)
    assert torch.equal(layer(ids), table[ids])
    assert torch.equal(torch.nn.functional.embedding(ids, table), table[ids])
    with pytest.raises(RuntimeError, match="floating point"):
        torch.nn.Embedding.from_pretrained(table, freeze=False)
    reference_class = type(REFERENCE.build(_config(family), CPU))
    for freeze in (True, False):
        with pytest.raises(ValueError, match="embeddings"):
            reference_class.from_pretrained(table, freeze=freeze)
    with pytest.raises(ValueError, match="weight"):
        embedspec_embedding(ids, table)


def show_weight_dim_error(family: str) -> None:
    ids = torch.tensor([1, 0])
    for table in (torch.randn(6), torch.randn(1, 6, 4)):
        with pytest.raises(AssertionError, match="2-dimensional"):
            torch.nn.Embedding.from_pretrained(table)
        with pytest.raises(RuntimeError, match="2-D"):
            torch.nn.functional.embedding(ids, table)
        with pytest.raises(ValueError, match="embeddings"):
            type(REFERENCE.build(_config(family), CPU)).from_pretrained(table)
        with pytest.raises(ValueError, match="weight"):
            embedspec_embedding(ids, table)
    with pytest.raises(AssertionError, match="Shape of weight"):
        torch.nn.Embedding(6, 4, _weight=torch.randn(6, 4, 1))


def _tangents(layer: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    params = {name: p.detach() for name, p in layer.named_parameters()}
    generator = torch.Generator().manual_seed(5)
    tangents = {name: torch.randn(p.shape, generator=generator) for name, p in params.items()}
    _, tangent = torch.func.jvp(lambda p: torch.func.functional_call(layer, p, (ids,)),
                                (params,), (tangents,))
    return tangent


def show_forward_ad(family: str) -> None:
    ids = torch.tensor([1, 1, 3])
    reference, adapter = _pair(_config(family, padding_idx=1))
    # padding positions: the reference's tangent ignores the padding row's tangent
    assert not torch.allclose(_tangents(adapter, ids)[0], _tangents(reference, ids)[0])
    if family == "embedding":
        tangent = _tangents(adapter, ids)
        assert tangent[0].abs().sum() > 0 and torch.equal(_tangents(reference, ids)[:2],
                                                          torch.zeros(2, 4))
        reference, adapter = _pair(_config(family, scale_grad_by_freq=True))
        assert torch.equal(_tangents(adapter, ids)[:2] / 2, _tangents(reference, ids)[:2])


def _second_order(layer: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    out = layer(ids)
    grad_output = torch.ones_like(out, requires_grad=True)
    (grad,) = torch.autograd.grad(out, layer.weight, grad_output, create_graph=True)
    (second,) = torch.autograd.grad(grad, grad_output, torch.ones_like(grad))
    return second


def show_double_backward(family: str) -> None:
    reference, adapter = _pair(_config(family, scale_grad_by_freq=True))
    ids = torch.tensor([2, 2, 5])
    assert torch.equal(_second_order(adapter, ids)[:2], torch.ones(2, 4))  # count 2 ignored
    assert torch.equal(_second_order(reference, ids)[:2], torch.full((2, 4), 0.5))
    empty = torch.tensor([], dtype=torch.int64)
    with pytest.raises(RuntimeError, match="0 elements"):
        _second_order(adapter, empty)
    assert _second_order(reference, empty).shape == (0, 4)


DEMONSTRATIONS: dict[str, Callable[[str], None]] = {
    "D-index-dtype": show_index_dtype,
    "D-error-atomicity": show_error_atomicity,
    "D-padding-idx-error": show_padding_idx_error,
    "D-config-error": show_config_error,
    "D-max-norm-value": show_max_norm_value,
    "D-norm-type-value": show_norm_type_value,
    "D-sparse-freq": show_sparse_freq,
    "D-stable-norm-dtype": show_stable_norm_dtype,
    "D-sparse-0d-padding": show_sparse_0d_padding,
    "D-reset-normal": show_reset_normal,
    "D-optimizer-hint": show_optimizer_hint,
    "D-stable-from-pretrained": show_stable_from_pretrained,
    "D-integer-table": show_integer_table,
    "D-weight-dim-error": show_weight_dim_error,
    "D-forward-ad": show_forward_ad,
    "D-double-backward": show_double_backward,
}

DIVERGENCE_FAMILIES = sorted({(d.id, family) for d in DIVERGENCES for family, _ in d.rows})


def test_every_divergence_has_a_demonstration() -> None:
    assert set(DEMONSTRATIONS) == DIVERGENCE_IDS
    assert len(DIVERGENCE_IDS) == len(DIVERGENCES)


@pytest.mark.parametrize(("divergence_id", "family"), DIVERGENCE_FAMILIES)
def test_divergence_shows(divergence_id: str, family: str) -> None:
    DEMONSTRATIONS[divergence_id](family)


def test_divergences_are_documented() -> None:
    text = DIVERGENCES_DOC.read_text()
    assert "backends/torch_nn/divergences.py" in text
    for divergence in DIVERGENCES:
        assert f"`{divergence.id}`" in text, divergence.id
        assert divergence.rule in text


def test_divergence_lookup() -> None:
    assert by_id("D-index-dtype").rule == "S0.2"
    with pytest.raises(KeyError):
        by_id("D-binary-scale")
    for dtype in ("float64", "float32"):
        shown = expected_at("stable", "forward", dtype, DIVERGENCES)
        assert [d.id for d in shown] == ["D-stable-norm-dtype"]
    assert expected_at("embedding", "forward", "float32", DIVERGENCES) == []
    assert {d.id for d in expected_at("embedding", "errors", "float16", DIVERGENCES)} == {
        d.id for d in DIVERGENCES if ("embedding", "errors") in d.rows}
