"""Guards against fast wrong kernels.

Before an implementation is timed on a scenario, one call of it on the scenario's
first ids is compared with the reference (:mod:`embedspec.reference`) on the same
weights: the output bit for bit when the operation is a gather (``torch.equal``),
otherwise within ``torch.testing.assert_close``'s default tolerance for the dtype, its
absolute part widened to :data:`SCALE_ULPS` units of the largest expected magnitude
(:func:`tolerance`); gradients always within that tolerance (their accumulation order is
free), sparse ones densified; and, for an operation that changes the weight (``max_norm``), the
weight after the call. An implementation that differs is *rejected*: it is not timed.

The other guards live where they act: the ids rotate between calls
(:class:`~embedspec.conformance.bench.ids.IdPool`), and a result faster than a copy of
the bytes the operation must move is flagged suspect
(:func:`~embedspec.conformance.bench.roofline.is_suspect`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from embedspec.reference.binary import BinaryEmbedding
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    LayerConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)
from embedspec.reference.embedding import Embedding
from embedspec.reference.stable import StableEmbedding
from embedspec.reference.vocab_parallel import VocabParallelEmbedding
from torch import nn

_REFERENCE_LAYERS = {
    EmbeddingConfig: Embedding.from_config,
    StableEmbeddingConfig: StableEmbedding.from_config,
    VocabParallelConfig: VocabParallelEmbedding.from_config,
    BinaryConfig: BinaryEmbedding.from_config,
}


@dataclass
class Observed:
    """What one call produced: its output, the gradients of the named parameters and
    (for a mutating operation) the state afterwards."""

    output: torch.Tensor
    grads: dict[str, torch.Tensor]
    state: dict[str, torch.Tensor]


def reference_module(config: LayerConfig, state: Mapping[str, torch.Tensor],
                     device: torch.device) -> nn.Module:
    """The reference layer of ``config`` holding ``state`` (the tensors are used as they
    are: pass copies to keep them apart)."""
    factory = _REFERENCE_LAYERS[type(config)]
    module = factory(config, device=torch.device("meta"))
    module.load_state_dict(dict(state), assign=True)
    return module.to(device)


def observe(module: nn.Module, output: torch.Tensor, keep_state: bool) -> Observed:
    """The output, gradients and (``keep_state``) state of ``module`` after a call."""
    grads = {}
    for name, p in module.named_parameters():
        if p.grad is not None:
            g = p.grad
            grads[name] = (g.coalesce().to_dense() if g.is_sparse else g).detach().clone()
    state = ({k: v.detach().clone() for k, v in module.state_dict().items()}
             if keep_state else {})
    return Observed(output.detach().clone(), grads, state)


def mismatch(observed: Observed, expected: Observed, *, exact: bool,
             by_name: bool = True) -> str | None:
    """Why ``observed`` differs from the reference's ``expected``, or None.

    ``by_name``: also compare the gradients and state, which needs the reference's
    parameter names (every backend has them; the ``torch.nn`` baselines do not)."""
    problem = _compare("output", observed.output, expected.output, exact)
    if problem:
        return problem
    if not by_name:
        return None
    for name, grad in expected.grads.items():
        if name not in observed.grads:
            return f"no gradient for {name!r}"
        problem = _compare(f"gradient of {name!r}", observed.grads[name], grad, False)
        if problem:
            return problem
    for name, value in expected.state.items():
        problem = _compare(f"{name!r} after the call", observed.state.get(name), value, False)
        if problem:
            return problem
    return None


#: ``torch.testing.assert_close``'s default ``(rtol, atol)`` per floating dtype.
DEFAULT_TOLERANCES: Mapping[torch.dtype, tuple[float, float]] = {
    torch.float16: (1e-3, 1e-5), torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5), torch.float64: (1e-7, 1e-7),
}
#: Units of the dtype's epsilon, times the largest magnitude of the expected tensor, that a
#: computed (not gathered) value may differ by besides the default tolerance: the same
#: sums in another order differ by a few units of their terms' magnitude (a layer norm's
#: gradient reaches hundreds where its row's deviation is small), a wrong kernel by the
#: magnitude itself.
SCALE_ULPS = 128


def tolerance(expected: torch.Tensor) -> dict[str, float]:
    """``rtol`` and ``atol`` of a computed value: the default tolerance of its dtype, the
    absolute part raised to :data:`SCALE_ULPS` units of its largest magnitude."""
    if not expected.is_floating_point():
        return {"rtol": 0.0, "atol": 0.0}
    rtol, atol = DEFAULT_TOLERANCES.get(expected.dtype, (1.3e-6, 1e-5))
    finite = expected[torch.isfinite(expected)]
    largest = float(finite.abs().max()) if finite.numel() else 0.0
    return {"rtol": rtol,
            "atol": max(atol, SCALE_ULPS * torch.finfo(expected.dtype).eps * largest)}


def _compare(what: str, actual: torch.Tensor | None, expected: torch.Tensor,
             exact: bool) -> str | None:
    if actual is None:
        return f"{what}: missing"
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return (f"{what}: {tuple(actual.shape)} {actual.dtype}, the reference "
                f"{tuple(expected.shape)} {expected.dtype}")
    actual = actual.to(expected.device)
    if exact:
        if torch.equal(actual, expected):
            return None
        differing = int((actual != expected).sum())
        return f"{what}: {differing} of {expected.numel()} elements differ from the reference"
    try:
        torch.testing.assert_close(actual, expected, **tolerance(expected))
    except AssertionError as error:
        return f"{what}: " + " ".join(str(error).split())
    return None
