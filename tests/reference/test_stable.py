"""StableEmbedding (spec section 2): Xavier init, LayerNorm of the looked-up rows in
float32 (float64 for float64 weights), padding positions output the LayerNorm bias."""

import math

import pytest
import torch
import torch.nn.functional as F
from embedspec.reference import Embedding, StableEmbedding, stable_embedding
from embedspec.reference.configs import EmbeddingConfig, StableEmbeddingConfig
from embedspec.reference.stable import norm_dtype


def bitsandbytes_forward(layer: StableEmbedding, ids: torch.Tensor) -> torch.Tensor:
    """bitsandbytes' StableEmbedding.forward, written with torch only (F2.1)."""
    rows = F.embedding(ids, layer.weight, layer.padding_idx, layer.max_norm, layer.norm_type,
                       layer.scale_grad_by_freq, layer.sparse)
    default = torch.get_default_dtype()  # bitsandbytes keeps its LayerNorm in this dtype
    normed = F.layer_norm(rows.to(default), layer.norm.normalized_shape,
                          layer.norm.weight.to(default), layer.norm.bias.to(default), 1e-5)
    return normed.to(layer.weight.dtype)


def test_construction_matches_bitsandbytes():
    torch.manual_seed(3)
    layer = StableEmbedding(300, 20, padding_idx=7)
    bound = math.sqrt(6 / 320)
    assert layer.weight.abs().max().item() <= bound
    assert layer.weight.abs().max().item() > 0.95 * bound
    assert torch.count_nonzero(layer.weight[7]) == 0
    assert layer.norm.eps == 1e-5 and layer.norm.normalized_shape == (20,)
    assert torch.equal(layer.norm.weight, torch.ones(20))
    assert torch.equal(layer.norm.bias, torch.zeros(20))
    assert list(layer.state_dict()) == ["weight", "norm.weight", "norm.bias"]
    assert layer.init == "xavier_uniform"
    assert StableEmbedding.optimizer_overrides == {"weight": {"optim_bits": 32}}


def test_same_xavier_draw_as_bitsandbytes_reset():
    torch.manual_seed(5)
    ours = StableEmbedding(12, 6, padding_idx=0)
    torch.manual_seed(5)
    theirs = torch.empty(12, 6)
    torch.nn.init.normal_(theirs)  # nn.Embedding.__init__ draws first, then bnb re-draws
    torch.manual_seed(5)
    torch.nn.init.xavier_uniform_(theirs)
    theirs[0] = 0
    assert torch.equal(ours.weight, theirs)


@pytest.mark.parametrize(("dtype", "norm"), [(torch.float32, torch.float32),
                                             (torch.float16, torch.float32),
                                             (torch.bfloat16, torch.float32),
                                             (torch.float64, torch.float64)])
def test_device_and_dtype_arguments_work(dtype, norm):
    # positional, as in bitsandbytes' signature
    layer = StableEmbedding(10, 4, None, None, 2.0, False, False, None, "cpu", dtype)
    assert layer.weight.dtype == dtype and layer.weight.requires_grad
    assert layer.norm.weight.dtype == norm == norm_dtype(dtype)
    assert layer.weight.device.type == layer.norm.weight.device.type == "cpu"
    assert layer(torch.tensor([[1, 2]])).dtype == dtype


def test_hand_computed_row():
    layer = StableEmbedding(2, 3, _weight=torch.tensor([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]]))
    out = layer(torch.tensor([0, 1]))
    scale = 1 / math.sqrt(2 / 3 + 1e-5)  # mean 2, biased variance 2/3
    assert out[0].tolist() == pytest.approx([-scale, 0.0, scale], rel=1e-6)
    assert out[1].tolist() == [0.0, 0.0, 0.0]  # constant row: the bias


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_bitwise_equal_to_bitsandbytes_forward(dtype):
    torch.manual_seed(1)
    layer = StableEmbedding(50, 16, padding_idx=3, dtype=dtype)
    with torch.no_grad():
        layer.norm.weight.uniform_(0.5, 1.5)
        layer.norm.bias.uniform_(-1, 1)
    ids = torch.randint(0, 50, (4, 6))
    assert torch.equal(layer(ids), bitsandbytes_forward(layer, ids))


def test_float64_weights_normalise_in_float64():
    torch.manual_seed(2)
    layer = StableEmbedding(20, 8, dtype=torch.float64)
    ids = torch.tensor([1, 5, 19])
    expected = F.layer_norm(layer.weight[ids], (8,), eps=1e-5)
    assert torch.equal(layer(ids), expected)
    assert not torch.equal(layer(ids), bitsandbytes_forward(layer, ids))


def test_norm_dtype_ignores_the_global_default_dtype():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(4)
        layer = StableEmbedding(20, 8, dtype=torch.float32)
        assert layer.norm.weight.dtype == torch.float32
        ids = torch.tensor([0, 7, 7])
        expected = F.layer_norm(layer.weight[ids], (8,), layer.norm.weight, layer.norm.bias)
        assert torch.equal(layer(ids), expected)
    finally:
        torch.set_default_dtype(previous)


def test_padding_positions_output_the_bias_and_train_the_norm():
    layer = StableEmbedding(5, 3, padding_idx=-1)
    with torch.no_grad():
        layer.norm.bias.copy_(torch.tensor([1.0, -2.0, 0.5]))
    ids = torch.tensor([[4, 1], [4, 4]])
    out = layer(ids)
    assert out[0, 0].tolist() == [1.0, -2.0, 0.5]
    assert torch.equal(out[1, 0], out[1, 1])
    out.sum().backward()
    assert torch.count_nonzero(layer.weight.grad[4]) == 0
    assert layer.norm.bias.grad.tolist() == [4.0, 4.0, 4.0]  # padding positions included


def test_options_pass_through():
    weight = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]])
    layer = StableEmbedding(3, 2, max_norm=1.0, _weight=weight.clone())
    layer(torch.tensor([0]))
    assert layer.weight[0].tolist() == pytest.approx([0.6, 0.8], abs=1e-6)
    assert layer.weight[1].tolist() == [1.0, 0.0]
    sparse = StableEmbedding(6, 4, sparse=True)
    sparse(torch.tensor([1, 1, 5])).pow(2).sum().backward()
    assert sparse.weight.grad.is_sparse and not sparse.norm.weight.grad.is_sparse
    with pytest.raises(ValueError, match="scale_grad_by_freq"):
        StableEmbedding(6, 4, sparse=True, scale_grad_by_freq=True)


def test_frequency_scaling_divides_the_row_gradient():
    torch.manual_seed(6)
    plain = StableEmbedding(4, 3)
    scaled = StableEmbedding(4, 3, scale_grad_by_freq=True, _weight=plain.weight.detach().clone())
    ids = torch.tensor([2, 2, 2, 0])
    grad_out = torch.randn(4, 3)
    plain(ids).backward(grad_out)
    scaled(ids).backward(grad_out)
    torch.testing.assert_close(scaled.weight.grad[2], plain.weight.grad[2] / 3)
    assert torch.equal(scaled.weight.grad[0], plain.weight.grad[0])


def test_gradcheck():
    ids = torch.tensor([[0, 2], [2, 1]])
    params = (torch.randn(3, 4, dtype=torch.float64, requires_grad=True),
              torch.randn(4, dtype=torch.float64, requires_grad=True),
              torch.randn(4, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(lambda w, g, b: stable_embedding(ids, w, g, b), params)


def test_from_config_and_from_pretrained():
    config = StableEmbeddingConfig(num_embeddings=6, embedding_dim=2, padding_idx=1,
                                   dtype=torch.bfloat16)
    layer = StableEmbedding.from_config(config, device="cpu")
    assert layer.weight.dtype == torch.bfloat16 and layer.padding_idx == 1
    assert torch.count_nonzero(layer.weight[1]) == 0
    with pytest.raises(TypeError, match="StableEmbeddingConfig"):
        StableEmbedding.from_config(EmbeddingConfig(6, 2))
    pretrained = torch.ones(3, 2)
    frozen = StableEmbedding.from_pretrained(pretrained, padding_idx=0)
    assert isinstance(frozen, StableEmbedding) and not frozen.weight.requires_grad
    assert frozen.weight.data_ptr() == pretrained.data_ptr()
    assert frozen.weight[0].tolist() == [1.0, 1.0]


def test_reset_parameters_touches_only_the_table():
    layer = StableEmbedding(8, 3, padding_idx=2)
    with torch.no_grad():
        layer.weight.fill_(9.0)
        layer.norm.bias.fill_(1.0)
    layer.reset_parameters()
    assert layer.weight.abs().max().item() <= math.sqrt(6 / 11)
    assert torch.count_nonzero(layer.weight[2]) == 0
    assert layer.norm.bias.tolist() == [1.0, 1.0, 1.0]


def test_output_shape_and_fresh_tensor():
    layer = StableEmbedding(5, 3)
    assert layer(torch.tensor(2)).shape == (3,)
    assert layer(torch.empty(2, 0, dtype=torch.int32)).shape == (2, 0, 3)
    assert StableEmbedding(0, 3)(torch.empty(0, dtype=torch.long)).shape == (0, 3)
    assert StableEmbedding(4, 0)(torch.tensor([1, 3])).shape == (2, 0)
    before = layer.weight.detach().clone()
    with torch.no_grad():
        layer(torch.tensor([0, 1])).add_(5)
    assert torch.equal(layer.weight, before)


def test_errors_are_typed_and_atomic():
    layer = StableEmbedding(4, 3, max_norm=0.1)
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    with pytest.raises(IndexError):
        layer(torch.tensor([0, -1]))
    with pytest.raises(TypeError):
        layer(torch.tensor([0.0]))
    with pytest.raises(ValueError, match="norm_bias"):
        stable_embedding(torch.tensor([0]), layer.weight, layer.norm.weight, torch.zeros(2),
                         max_norm=0.1)
    with pytest.raises(ValueError, match="eps"):
        stable_embedding(torch.tensor([0]), layer.weight, layer.norm.weight, layer.norm.bias,
                         max_norm=0.1, eps=0.0)
    for key, value in layer.state_dict().items():
        assert torch.equal(value, state[key])
    with pytest.raises(ValueError, match="num_embeddings"):
        StableEmbedding(-2, 3)
    with pytest.raises(ValueError, match="dtype"):
        StableEmbedding(2, 3, dtype=torch.int32)


def test_is_an_embedding_with_a_stable_repr():
    layer = StableEmbedding(5, 2, padding_idx=0)
    assert isinstance(layer, Embedding)
    assert layer.extra_repr() == "5, 2, padding_idx=0"
    assert "init=normal" in StableEmbedding(5, 2, init="normal").extra_repr()
