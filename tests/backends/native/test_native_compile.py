"""Every native layer traces whole under ``torch.compile(fullgraph=True)`` (the aot_eager
backend: fake kernels, functionalisation and the autograd formulas, without compiling
generated code) and gives the eager backend's outputs and gradients."""

from __future__ import annotations

import pytest
import torch
from embedspec.backends.contract import BuildContext
from embedspec.backends.eager import EagerBackend
from embedspec.backends.native import NativeBackend
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    ShardedConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)

CONFIGS = {
    "embedding": EmbeddingConfig(num_embeddings=11, embedding_dim=6, padding_idx=2,
                                 max_norm=1.5, scale_grad_by_freq=True),
    "embedding-sparse": EmbeddingConfig(num_embeddings=11, embedding_dim=6, padding_idx=-1,
                                        sparse=True),
    "stable": StableEmbeddingConfig(num_embeddings=11, embedding_dim=6, padding_idx=0,
                                    max_norm=0.5),
    "sharded": ShardedConfig(num_embeddings=11, embedding_dim=6, max_norm=1.0, norm_type=1.0),
    "vocab_parallel": VocabParallelConfig(num_embeddings=11, embedding_dim=6,
                                          org_num_embeddings=8, padding_size=4),
    "binary": BinaryConfig(num_embeddings=11, embedding_dim=6, padding_idx=3, centre=True),
}
IDS = torch.tensor([[0, 3, 7, 3], [10, 2, 3, 8]]).t()  # transposed, with repeats


def _pair(config):
    torch.manual_seed(0)
    native = NativeBackend().build(config, BuildContext())
    eager = EagerBackend().build(config, BuildContext())
    eager.load_state_dict(native.state_dict())
    return native, eager


def _grads(layer: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: (p.grad.to_dense() if p.grad.is_sparse else p.grad)
            for name, p in layer.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_compiled_layer_matches_eager(name: str) -> None:
    torch._dynamo.reset()
    native, eager = _pair(CONFIGS[name])
    compiled = torch.compile(native, fullgraph=True, backend="aot_eager")
    out = compiled(IDS)
    expected = eager(IDS)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    weights = torch.randn(out.shape)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    native_grads, eager_grads = _grads(native), _grads(eager)
    assert native_grads.keys() == eager_grads.keys()
    for key, grad in native_grads.items():
        torch.testing.assert_close(grad, eager_grads[key], rtol=1e-5, atol=1e-5, msg=key)
    # renormalised rows agree within the S0.7 renorm bound: D + 3 rounding steps
    renorm_rtol = (native.weight.shape[1] + 3) * torch.finfo(native.weight.dtype).eps
    torch.testing.assert_close(native.weight, eager.weight, rtol=renorm_rtol, atol=0)


def test_compiled_packed_forward_matches_eager() -> None:
    torch._dynamo.reset()
    native, eager = _pair(CONFIGS["binary"])
    compiled = torch.compile(native.forward_packed, fullgraph=True, backend="aot_eager")
    assert torch.equal(compiled(IDS), eager.forward_packed(IDS))
