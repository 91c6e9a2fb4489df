"""Construction of the Embedding layer (F1.6, S1.7), bad configuration (S0.5) and
atomicity of errors (S0.4)."""

import math

import pytest
import torch
import torch.nn.functional as F
from embedspec.reference import Embedding, embedding, lookup, renorm_
from embedspec.reference.configs import EmbeddingConfig, StableEmbeddingConfig


def test_same_draw_as_torch_for_the_same_seed():
    torch.manual_seed(11)
    ours = Embedding(10, 4, padding_idx=2)
    torch.manual_seed(11)
    theirs = torch.nn.Embedding(10, 4, padding_idx=2)
    assert torch.equal(ours.weight, theirs.weight)
    assert list(ours.state_dict()) == ["weight"]
    ours.load_state_dict(theirs.state_dict())


def test_attributes_and_defaults():
    layer = Embedding(7, 3, padding_idx=-1, max_norm=2, norm_type=1)
    assert (layer.num_embeddings, layer.embedding_dim, layer.padding_idx) == (7, 3, 6)
    assert layer.max_norm == 2.0 and isinstance(layer.max_norm, float)
    assert layer.norm_type == 1.0
    assert (layer.scale_grad_by_freq, layer.sparse, layer.init) == (False, False, "normal")
    assert layer.weight.dtype == torch.get_default_dtype()
    assert layer.weight.requires_grad


def test_optimizer_state_hint_is_declared_metadata():
    assert Embedding.optimizer_overrides == {"weight": {"optim_bits": 32}}
    with pytest.raises(TypeError):
        Embedding.optimizer_overrides["weight"]["optim_bits"] = 8  # type: ignore[index]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_dtype_and_device_are_honoured(dtype):
    layer = Embedding(4, 2, dtype=dtype, device="cpu")
    assert layer.weight.dtype == dtype
    assert layer.weight.device.type == "cpu"
    assert layer(torch.tensor([1])).dtype == dtype


def test_default_dtype_follows_the_global_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert Embedding(2, 2).weight.dtype == torch.float64
    finally:
        torch.set_default_dtype(previous)


def test_meta_device():
    layer = Embedding(1000, 64, padding_idx=0, device="meta")
    assert layer.weight.device.type == "meta"
    assert layer.weight.shape == (1000, 64)


def test_zero_sizes_are_legal():
    assert Embedding(0, 5).weight.shape == (0, 5)
    assert Embedding(4, 0, padding_idx=1)(torch.tensor([3, 1])).shape == (2, 0)
    assert Embedding(0, 0, init="xavier_uniform").weight.shape == (0, 0)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"num_embeddings": -1}, "num_embeddings"),
    ({"num_embeddings": 2.0}, "num_embeddings"),
    ({"num_embeddings": "3"}, "num_embeddings"),
    ({"num_embeddings": True}, "num_embeddings"),
    ({"embedding_dim": -3}, "embedding_dim"),
    ({"embedding_dim": 1.5}, "embedding_dim"),
    ({"embedding_dim": None}, "embedding_dim"),
    ({"dtype": torch.int64}, "dtype"),
    ({"dtype": "float32"}, "dtype"),
    ({"device": "nowhere"}, "device"),
    ({"init": "uniform"}, "init"),
    ({"init": 3}, "init"),
    ({"sparse": 1}, "sparse"),
    ({"scale_grad_by_freq": "yes"}, "scale_grad_by_freq"),
    ({"_freeze": None}, "_freeze"),
])
def test_bad_configuration_is_value_error_naming_the_argument(kwargs, name):
    arguments = {"num_embeddings": 4, "embedding_dim": 3, **kwargs}
    with pytest.raises(ValueError, match=name):
        Embedding(**arguments)


def test_pretrained_weight_is_used_as_is():
    pretrained = torch.arange(6, dtype=torch.float32).reshape(3, 2)
    layer = Embedding(3, 2, padding_idx=0, _weight=pretrained)
    assert layer.weight.data_ptr() == pretrained.data_ptr()
    assert layer.weight[0].tolist() == [0.0, 1.0] and layer.weight[2].tolist() == [4.0, 5.0]
    pretrained[1] = -1.0
    assert layer.weight[1].tolist() == [-1.0, -1.0]
    assert layer.weight.requires_grad
    assert not Embedding(3, 2, _weight=pretrained, _freeze=True).weight.requires_grad


def test_pretrained_padding_row_is_not_zeroed():
    pretrained = torch.ones(3, 2)
    assert Embedding(3, 2, padding_idx=1, _weight=pretrained).weight[1].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(("weight", "kwargs", "match"), [
    (torch.ones(3, 3), {}, r"_weight must have shape \(3, 2\)"),
    (torch.ones(2, 3, 1), {}, "_weight must be 2-D"),
    (torch.ones(3, 2, dtype=torch.long), {}, "_weight must be floating point"),
    (torch.ones(3, 2), {"dtype": torch.float64}, "dtype"),
    (torch.ones(3, 2), {"device": "meta"}, "device"),
])
def test_bad_pretrained_weight_is_value_error(weight, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Embedding(3, 2, _weight=weight, **kwargs)


def test_from_pretrained():
    pretrained = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    layer = Embedding.from_pretrained(pretrained, padding_idx=-1, max_norm=100.0)
    assert not layer.weight.requires_grad
    assert layer.weight.data_ptr() == pretrained.data_ptr()
    assert layer.padding_idx == 2 and layer.weight[2].tolist() == [5.0, 6.0]
    assert layer.max_norm == 100.0
    trainable = Embedding.from_pretrained(pretrained, freeze=False, sparse=True)
    assert trainable.weight.requires_grad and trainable.sparse
    with pytest.raises(ValueError, match="embeddings"):
        Embedding.from_pretrained(torch.ones(4))
    with pytest.raises(ValueError, match="freeze"):
        Embedding.from_pretrained(pretrained, freeze=None)


def test_from_config():
    config = EmbeddingConfig(num_embeddings=5, embedding_dim=3, padding_idx=-2, max_norm=1.0,
                             init="scaled_normal", dtype=torch.float64)
    layer = Embedding.from_config(config, device="cpu")
    assert layer.weight.shape == (5, 3) and layer.weight.dtype == torch.float64
    assert (layer.padding_idx, layer.max_norm, layer.init) == (3, 1.0, "scaled_normal")
    assert torch.count_nonzero(layer.weight[3]) == 0
    with pytest.raises(TypeError, match="EmbeddingConfig"):
        Embedding.from_config(StableEmbeddingConfig(5, 3))
    with pytest.raises(ValueError, match="embedding_dim"):
        Embedding.from_config(EmbeddingConfig(num_embeddings=5, embedding_dim=-1))


def test_reset_parameters_redraws_and_zeroes_padding():
    layer = Embedding(6, 4, padding_idx=5)
    with torch.no_grad():
        layer.weight.fill_(3.0)
    layer.reset_parameters()
    assert torch.count_nonzero(layer.weight[5]) == 0
    assert torch.count_nonzero(layer.weight[:5] == 3.0) == 0


def test_extra_repr():
    assert repr(Embedding(5, 2)) == "Embedding(5, 2)"
    text = Embedding(5, 2, padding_idx=-1, max_norm=1.0, norm_type=1.0,
                     scale_grad_by_freq=True, init="xavier_uniform").extra_repr()
    assert text == ("5, 2, padding_idx=4, max_norm=1.0, norm_type=1.0, "
                    "scale_grad_by_freq=True, init=xavier_uniform")
    assert "sparse=True" in Embedding(5, 2, sparse=True).extra_repr()
    assert "init=custom" in Embedding(5, 2, init=torch.nn.init.zeros_).extra_repr()


# Atomicity (S0.4): for each error, the table is bitwise unchanged afterwards.

def renormable_table() -> torch.Tensor:
    return torch.full((4, 3), 5.0)


BAD_CALLS = [
    (IndexError, torch.tensor([-1]), {}),
    (IndexError, torch.tensor([0, 1, 4]), {}),
    (IndexError, torch.tensor([[0], [-5]]), {}),
    (TypeError, torch.tensor([0.0, 1.0]), {}),
    (TypeError, torch.tensor([0, 1], dtype=torch.int16), {}),
    (ValueError, torch.tensor([0, 1]), {"padding_idx": 4}),
    (ValueError, torch.tensor([0, 1]), {"norm_type": 0.0}),
    (ValueError, torch.tensor([0, 1]), {"sparse": True, "scale_grad_by_freq": True}),
]


@pytest.mark.parametrize(("error", "ids", "options"), BAD_CALLS)
def test_functional_errors_leave_the_weight_unchanged(error, ids, options):
    weight = renormable_table()
    with pytest.raises(error):
        embedding(ids, weight, **{"max_norm": 1.0, **options})
    assert torch.equal(weight, renormable_table())


@pytest.mark.parametrize("ids", [torch.tensor([-1]), torch.tensor([1, 4]),
                                 torch.tensor([0], dtype=torch.uint8)])
def test_renorm_errors_leave_the_weight_unchanged(ids):
    weight = renormable_table()
    with pytest.raises((IndexError, TypeError)):
        renorm_(weight, ids, 1.0)
    assert torch.equal(weight, renormable_table())


def test_torch_renormalises_before_raising_but_the_spec_does_not():
    theirs = renormable_table()
    with pytest.raises(IndexError):
        F.embedding(torch.tensor([-1]), theirs, max_norm=1.0)
    assert not torch.equal(theirs[3], renormable_table()[3])  # upstream F0.4 behaviour
    layer = Embedding(4, 3, max_norm=1.0, _weight=renormable_table())
    with pytest.raises(IndexError):
        layer(torch.tensor([2, -1]))
    assert torch.equal(layer.weight, renormable_table())


def test_lookup_errors_leave_the_weight_unchanged():
    weight = renormable_table()
    with pytest.raises(IndexError):
        lookup(torch.tensor([9]), weight)
    assert torch.equal(weight, renormable_table())


def test_failed_construction_draws_nothing():
    torch.manual_seed(0)
    expected = torch.randn(3)
    torch.manual_seed(0)
    with pytest.raises(ValueError):
        Embedding(4, 3, padding_idx=9)
    with pytest.raises(ValueError):
        Embedding(4, 3, max_norm=math.nan)
    assert torch.equal(torch.randn(3), expected)
