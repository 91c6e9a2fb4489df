"""Expected outcomes of one-process cases: the reference layer of each family, run
through the same :func:`~embedspec.conformance.case.execute` as a backend.

:data:`SPEC` is the reference behind the backend contract; :func:`expected_outcome`
runs a case on it (always on the CPU). :func:`reference_state` and
:func:`state_layout` give a family's state dict as the reference builds it, and
:func:`reject_overflow` discards a case whose expected outcome leaves its dtype's
finite range.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

import hypothesis
import torch
from embedspec.backends.contract import Availability, Backend, BuildContext, Capabilities
from embedspec.conformance.case import Case, RankOutcome, execute
from embedspec.reference.binary import BinaryEmbedding
from embedspec.reference.configs import LayerConfig
from embedspec.reference.embedding import Embedding
from embedspec.reference.stable import StableEmbedding
from torch import nn

#: The reference layer of each single-process family.
REFERENCE_LAYERS: Mapping[str, type[nn.Module]] = {
    "embedding": Embedding,
    "stable": StableEmbedding,
    "binary": BinaryEmbedding,
}


def reference_layer_class(family: str) -> type[nn.Module]:
    try:
        return REFERENCE_LAYERS[family]
    except KeyError:
        raise ValueError(f"no single-process reference layer for family {family!r}; known: "
                         f"{', '.join(REFERENCE_LAYERS)}") from None


def build_reference(config: LayerConfig, *, device: str | torch.device = "cpu") -> nn.Module:
    """The reference layer ``config`` describes (initialised from the global torch RNG)."""
    return reference_layer_class(config.family).from_config(config, device=device)


@functools.lru_cache(maxsize=512)
def state_layout(config: LayerConfig) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """``{key: (shape, dtype)}`` of the reference layer's state dict (no data allocated)."""
    layer = build_reference(config, device="meta")
    return {k: (tuple(v.shape), v.dtype) for k, v in layer.state_dict().items()}


class _SpecBackend(Backend):
    """The reference layers behind the backend contract: the source of expected outcomes."""

    name = "embedspec-spec"
    description = "expected outcomes of the conformance harness"

    def availability(self) -> Availability:
        return Availability.yes()

    def capabilities(self) -> Capabilities:
        return Capabilities()

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        return build_reference(config, device=context.device)


SPEC = _SpecBackend()


def reference_state(config: LayerConfig, seed: int) -> dict[str, torch.Tensor]:
    """The state of a reference layer built after ``torch.manual_seed(seed)`` (the
    global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = build_reference(config)
    return {k: v.detach().clone() for k, v in layer.state_dict().items()}


def expected_outcome(case: Case) -> RankOutcome:
    """The reference's outcome of ``case`` (always computed on the CPU)."""
    return execute(SPEC, dataclasses.replace(case, device="cpu"), 0, BuildContext())


def _tensors(outcome: RankOutcome) -> list[torch.Tensor]:
    found = [outcome.output] if outcome.output is not None else []
    for grad in outcome.grads.values():
        if grad is not None:
            found.append(grad.coalesce().values() if grad.layout == torch.sparse_coo else grad)
    found.extend(outcome.state_after.values())
    found.extend(outcome.extra.get("packed", {}).values())
    return found


def reject_overflow(expected: RankOutcome) -> None:
    """Discard (as a hypothesis example outside the domain) a case whose reference
    outcome overflows its dtype: the tolerance policy is stated for finite results, and
    where a result overflows, legitimate accumulation orders disagree on inf or NaN."""
    if not all(bool(torch.isfinite(t).all()) for t in _tensors(expected)
               if t.is_floating_point()):
        hypothesis.reject()
