"""The ``torch_compile`` backend's documented divergences: each compiled-specific one
shows on compiled layers (where eager ``torch.nn.Embedding`` does something else), the
shared ones are documented, and the expectations file names only documented ids, each
divergence at least once.

Calls that need no gradient run under ``torch.no_grad`` (inference graphs compile faster).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from embedspec.backends.contract import BuildContext
from embedspec.backends.torch_compile import TorchCompileBackend
from embedspec.backends.torch_compile.divergences import (
    COMPILED,
    DIVERGENCE_IDS,
    DIVERGENCES,
    SHARED_WITH_TORCH_NN,
)
from embedspec.backends.torch_nn.divergences import DIVERGENCE_IDS as TORCH_NN_IDS
from embedspec.conformance.session.expectations import EXPECTATIONS_DIR, load_expectations
from embedspec.reference.configs import EmbeddingConfig
from torch import nn
from torch._dynamo.exc import BackendCompilerFailed, TorchRuntimeError, Unsupported

DIVERGENCES_DOC = Path(__file__).resolve().parents[3] / "docs" / "spec" / "divergences.md"
BACKEND = TorchCompileBackend()
V = 6


def _layer(**options) -> nn.Embedding:
    torch.manual_seed(0)
    return BACKEND.build(EmbeddingConfig(V, 3, **options), BuildContext())


def _outcome(layer: nn.Module, ids: torch.Tensor) -> tuple[type[BaseException], bool]:
    """The error class a call raises and whether it changed the weight."""
    before = layer.weight.detach().clone()
    with torch.no_grad(), pytest.raises(Exception) as raised:
        layer(ids)
    return raised.type, not torch.equal(before, layer.weight.detach())


def test_out_of_range_ids_raise_runtime_error() -> None:
    layer = _layer()
    for ids in ([0, V], [-1, 2]):
        assert _outcome(layer, torch.tensor(ids)) == (RuntimeError, False)


def test_under_max_norm_errors_are_atomic_and_negative_ids_raise_runtime_error() -> None:
    """Eager ``nn.Embedding`` renormalises rows before both errors (D-error-atomicity);
    the compiled layer changes nothing."""
    layer = _layer(max_norm=0.5)
    eager = nn.Embedding(V, 3, max_norm=0.5)
    for ids, error in (([0, V], IndexError), ([-1, 2], RuntimeError)):
        eager.load_state_dict(layer.state_dict())
        assert _outcome(layer, torch.tensor(ids)) == (error, False)
        assert _outcome(eager, torch.tensor(ids)) == (IndexError, True)


@pytest.mark.parametrize(("ids", "error"), [(torch.tensor([1.0, 2.0]), TorchRuntimeError),
                                            (torch.tensor([1, 2], dtype=torch.int16),
                                             TorchRuntimeError),
                                            ([1, 2], Unsupported)],
                         ids=["float", "int16", "list"])
def test_bad_index_types_raise_dynamo_runtime_errors(ids, error) -> None:
    with torch.no_grad(), pytest.raises(error) as raised:
        _layer()(ids)
    assert isinstance(raised.value, RuntimeError)


@pytest.mark.parametrize("options", [{"scale_grad_by_freq": True}, {"padding_idx": 0}],
                         ids=["scale_grad_by_freq", "padding_idx"])
def test_sparse_layers_that_cannot_compile_their_backward_fail_the_forward(options) -> None:
    layer = _layer(sparse=True, **options)
    with pytest.raises(BackendCompilerFailed):
        layer(torch.tensor([1, 2]))
    with torch.no_grad():
        assert layer(torch.tensor([1, 2])).shape == (2, 3)


def test_a_negative_max_norm_still_flips_the_referenced_rows() -> None:
    layer = _layer(max_norm=-1.0)
    before = layer.weight.detach().clone()
    with torch.no_grad():
        layer(torch.tensor([1, 2]))
    assert torch.equal(layer.weight[1:3].sign(), -before[1:3].sign())
    assert torch.equal(layer.weight[3:], before[3:])


def test_the_divergences_are_torch_nn_s_plus_the_compiled_ones() -> None:
    assert set(SHARED_WITH_TORCH_NN) <= TORCH_NN_IDS
    assert len(DIVERGENCE_IDS) == len(DIVERGENCES)
    assert {d.id for d in COMPILED} == {"D-index-dtype", "D-out-of-range", "D-sparse-freq",
                                        "D-compile-sparse-padding"}
    assert "D-error-atomicity" not in DIVERGENCE_IDS


def test_divergences_are_documented() -> None:
    text = DIVERGENCES_DOC.read_text()
    assert "backends/torch_compile/divergences.py" in text
    for divergence in DIVERGENCES:
        assert f"`{divergence.id}`" in text, divergence.id


def test_expectations_name_every_divergence_and_nothing_else() -> None:
    path = EXPECTATIONS_DIR / "torch_compile.json"
    expectations = load_expectations(path)
    assert json.loads(path.read_text())["backend"] == "torch_compile"
    named = {part.split(" ")[0] for entry in expectations.entries.values()
             for part in entry.reason.split("; ")}
    assert named == DIVERGENCE_IDS
