"""``torch.compile(fullgraph=True)`` of every Triton layer runs and matches the layer run
eagerly bit for bit: output, gradients and state (renormalised rows included).

Under the interpreter (CPU) the operators are opaque nodes of the graph; ``aot_eager``
is checked for every layer, ``inductor`` (whose CPU code generation calls them as
fallback kernels) for the embedding layer, the others being the same operators.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo.trace_rules as trace_rules
from embedspec.backends.contract import BuildContext
from embedspec.backends.registry import load_backend
from embedspec.backends.triton import layers
from embedspec.backends.triton.runtime import runtime
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    ShardedConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)

CONFIGS = {
    "embedding": EmbeddingConfig(10, 7, padding_idx=2, max_norm=1.0, scale_grad_by_freq=True),
    "embedding_sparse": EmbeddingConfig(10, 7, padding_idx=1, sparse=True),
    "stable": StableEmbeddingConfig(10, 7, padding_idx=2, max_norm=1.0, dtype=torch.bfloat16),
    "vocab_parallel": VocabParallelConfig(10, 7, org_num_embeddings=8, padding_size=4),
    "sharded": ShardedConfig(10, 7, max_norm=1.0, norm_type=3.0),
    "binary": BinaryConfig(10, 13, padding_idx=3, centre=True),
}
IDS = torch.tensor([[1, 2, 2, 9], [0, 3, 1, 1]], dtype=torch.int32)


@pytest.fixture(autouse=True)
def dynamo_traces_this_checkout():
    """torch's dynamo skips every file whose path contains ``triton/backends`` (meant for
    triton's own package); a checkout in a directory named ``triton`` has that in the
    path of ``backends/``, so the entry is lifted for these tests only."""
    entry = "triton/backends"
    lifted = entry in trace_rules.SKIP_DIRS and entry in layers.__file__.replace("\\", "/")
    if lifted:
        trace_rules.SKIP_DIRS.remove(entry)
        trace_rules._recompile_re()
    torch._dynamo.reset()
    yield
    if lifted:
        trace_rules.SKIP_DIRS.append(entry)
        trace_rules._recompile_re()
    torch._dynamo.reset()


def _grads(layer: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.to_dense() if p.grad.is_sparse else p.grad for p in layer.parameters()]


def _assert_same(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


def _check(name: str, backend_name: str, compiler: str) -> None:
    backend = load_backend(backend_name)
    context = BuildContext(device=torch.device(runtime().device))
    torch.manual_seed(0)
    eager = backend.build(CONFIGS[name], context)
    compiled = backend.build(CONFIGS[name], context)
    compiled.load_state_dict(eager.state_dict())
    ids = IDS.to(context.device)
    got = torch.compile(compiled, fullgraph=True, backend=compiler)(ids)
    want = eager(ids)
    assert torch.equal(got, want)
    got.float().square().sum().backward()
    want.float().square().sum().backward()
    _assert_same(_grads(compiled), _grads(eager))
    _assert_same(list(compiled.state_dict().values()), list(eager.state_dict().values()))
    if name == "binary":
        packed = torch.compile(compiled.forward_packed, fullgraph=True, backend=compiler)
        assert torch.equal(packed(ids), eager.forward_packed(ids))


@pytest.mark.parametrize("backend_name", ["triton", "triton-deterministic"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_compiled_layer_matches_eager(name, backend_name):
    _check(name, backend_name, "aot_eager")


def test_inductor_compiles_the_embedding_layer():
    _check("embedding", "triton", "inductor")


def test_compiled_layer_keeps_the_index_error():
    layer = load_backend("triton").build(CONFIGS["embedding"], BuildContext())
    before = layer.weight.detach().clone()
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    with pytest.raises(IndexError, match="id 10"):
        compiled(torch.tensor([1, 10]))
    assert torch.equal(layer.weight.detach(), before)
