"""The ``torch_compile`` backend measures compiled code only: each way ``torch.compile``
turns a compiled column into an eager one unnoticed is an error.

* a call that runs no compiled graph (what ``nn.Module.compile()`` does in torch 2.13,
  simulated here by the ``force_eager`` stance) raises ``EagerFallbackError``;
* a layer whose ``state_dict`` keys are not the reference's (``torch.compile(module)``
  keys them ``_orig_mod.weight``) is refused at build with ``StateKeysError``;
* hitting Dynamo's recompile limit raises ``RecompileLimitError``, and layers do not
  share one Dynamo cache (whose limits the suite's many layers would exhaust).

The guard tests compile inference graphs only (``torch.no_grad``), to stay quick.
"""

from __future__ import annotations

import pytest
import torch
from embedspec.backends.contract import BuildContext
from embedspec.backends.reference_backend import ReferenceBackend
from embedspec.backends.torch_compile import TorchCompileBackend
from embedspec.backends.torch_compile.compiled_forward import (
    EagerFallbackError,
    RecompileLimitError,
)
from embedspec.backends.torch_compile.layers import CompiledEmbedding, StateKeysError
from embedspec.reference.configs import EmbeddingConfig, StableEmbeddingConfig
from torch import nn

CPU = BuildContext()
BACKEND = TorchCompileBackend()
IDS = torch.tensor([[1, 2], [3, 1]])


def _layer(**options) -> CompiledEmbedding:
    return BACKEND.build(EmbeddingConfig(8, 3, **options), CPU)


def test_a_call_that_runs_no_compiled_graph_raises() -> None:
    layer = _layer()
    with torch.compiler.set_stance("force_eager"), pytest.raises(
            EagerFallbackError, match="ran no compiled graph"):
        layer(IDS)


def test_an_error_of_eager_code_is_not_passed_off_as_compiled_behaviour() -> None:
    layer = _layer()
    with torch.compiler.set_stance("force_eager"), pytest.raises(
            EagerFallbackError, match="raised IndexError from eager code") as raised:
        layer(torch.tensor([8]))
    assert isinstance(raised.value.__cause__, IndexError)


def test_module_compile_runs_no_graph_in_this_torch() -> None:
    """Why the guard exists: ``nn.Module.compile()`` compiles ``Module._call_impl``, a
    frame Dynamo skips, so the layer runs eagerly without a word."""
    graphs = []

    def backend(graph, example_inputs):
        graphs.append(graph)
        return graph.forward

    layer = nn.Embedding(8, 3)
    layer.compile(backend=backend)
    with torch.no_grad():
        layer(IDS)
    assert graphs == []


def test_a_compiled_call_counts_its_graph_and_matches_upstream() -> None:
    layer = _layer(padding_idx=1)
    plain = nn.Embedding(8, 3, padding_idx=1)
    plain.load_state_dict(layer.state_dict())
    with torch.no_grad():
        out = layer(IDS)
        assert layer.compiled_forward.graph_runs == 1
        layer(IDS)
    assert layer.compiled_forward.graph_runs == 2
    assert layer.compiled_forward.graphs_compiled >= 1
    assert torch.equal(out, plain(IDS))


@pytest.mark.parametrize("config", [EmbeddingConfig(6, 4, padding_idx=0),
                                    StableEmbeddingConfig(6, 4)], ids=lambda c: c.family)
def test_layers_present_the_reference_state_keys(config) -> None:
    layer = BACKEND.build(config, CPU)
    assert list(layer.state_dict()) == list(ReferenceBackend().build(config, CPU).state_dict())


class _OptimizedModuleBackend(TorchCompileBackend):
    """Builds ``torch.compile(nn.Embedding(...))``, as a user would."""

    @staticmethod
    def embedding_class(*args, **kwargs) -> nn.Module:
        return torch.compile(nn.Embedding(*args, **kwargs))


def test_a_layer_keyed_like_torch_compile_of_a_module_is_refused() -> None:
    with pytest.raises(StateKeysError, match=r"_orig_mod\.weight"):
        _OptimizedModuleBackend().build(EmbeddingConfig(8, 3), CPU)


def test_from_pretrained_builds_a_compiled_layer() -> None:
    layer = type(_layer()).from_pretrained(torch.randn(5, 3))
    assert isinstance(layer, CompiledEmbedding) and list(layer.state_dict()) == ["weight"]
    with torch.no_grad():
        layer(IDS)
    assert layer.compiled_forward.graph_runs == 1


def test_hitting_the_recompile_limit_raises() -> None:
    layer = _layer()
    with torch._dynamo.config.patch(recompile_limit=1), torch.no_grad():
        layer(IDS)
        with pytest.raises(RecompileLimitError, match="recompile limit"):
            layer(IDS.int())  # a new index dtype fails a guard: a recompilation


def test_layers_do_not_share_a_dynamo_cache() -> None:
    """With one shared cache, a second layer would be a recompilation of the first's code
    (its guards name the first layer): at a limit of 1, an error."""
    first, second = _layer(), _layer()
    with torch._dynamo.config.patch(recompile_limit=1), torch.no_grad():
        first(IDS)
        second(IDS)
    assert second.compiled_forward.graph_runs == 1
