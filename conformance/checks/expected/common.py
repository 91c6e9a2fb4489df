"""The pieces every family's expectation shares: the reference run of a case, errors
(S0.2-S0.5), the ``max_norm`` renormalisation's allowance (S1.2) and gradients of a
simulated world.

Single-process families (embedding, stable, binary) run the case on the reference
layer through the same :func:`~embedspec.conformance.checks.execute.execute` as a
backend (:func:`reference_outcome`); the multi-rank families simulate the whole
world in one process with the reference's world functions.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence

import torch
from embedspec.backends.contract import Availability, Backend, BuildContext, Capabilities
from embedspec.conformance.checks import tolerance
from embedspec.conformance.checks.case import Case, ErrorInfo, RankOutcome
from embedspec.conformance.checks.execute import execute
from embedspec.conformance.checks.expected.model import Expected, Renorm
from embedspec.reference import (
    BinaryEmbedding,
    Embedding,
    ShardedEmbedding,
    StableEmbedding,
    VocabParallelEmbedding,
)
from embedspec.reference.configs import LayerConfig
from embedspec.reference.embedding_functional import RENORM_EPS
from embedspec.reference.validation import check_indices, normalize_padding_idx
from torch import nn

#: The reference layer of each single-process family.
REFERENCE_LAYERS: Mapping[str, type[nn.Module]] = {
    "embedding": Embedding,
    "stable": StableEmbedding,
    "binary": BinaryEmbedding,
}


def build_reference(config: LayerConfig, *, device: str | torch.device = "cpu") -> nn.Module:
    """The single-process reference layer ``config`` describes (initialised from the
    global torch RNG)."""
    try:
        cls = REFERENCE_LAYERS[config.family]
    except KeyError:
        raise ValueError(f"no single-process reference layer for family {config.family!r}; "
                         f"known: {', '.join(REFERENCE_LAYERS)}") from None
    return cls.from_config(config, device=device)


def kept_rng() -> contextlib.AbstractContextManager:
    """A block after which torch's global (CPU) random state is as it was before.

    The reference layers the expectations build only for their layout or to load a
    given state are built on the CPU inside one: tables this small are faster to build
    there than on the meta device (whose initialisers run through Python
    decompositions), and the draws of their initialisers change nothing else."""
    return torch.random.fork_rng(devices=[])


@functools.lru_cache(maxsize=512)
def state_layout(config: LayerConfig) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """``{key: (shape, dtype)}`` of the reference layer's state dict (see
    :func:`kept_rng`)."""
    with kept_rng():
        layer = build_reference(config)
    return {k: (tuple(v.shape), v.dtype) for k, v in layer.state_dict().items()}


class _SpecBackend(Backend):
    """The single-process reference layers behind the backend contract."""

    name = "embedspec-spec"
    description = "expected outcomes of the conformance checks"

    def availability(self) -> Availability:
        return Availability.yes()

    def capabilities(self) -> Capabilities:
        return Capabilities()

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        return build_reference(config, device=context.device)


SPEC = _SpecBackend()


def reference_outcome(case: Case) -> RankOutcome:
    """The reference's outcome of a one-process ``case`` (always computed on the CPU)."""
    return execute(SPEC, dataclasses.replace(case, device="cpu"), 0, BuildContext())


def error_class(error: ErrorInfo) -> type[BaseException]:
    """The builtin exception class the reference raised."""
    cls = getattr(builtins, error.type, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise ValueError(f"the reference raised {error.type!r}, not a builtin exception")
    return cls


def error_of(call: Callable[[], object]) -> type[BaseException] | None:
    """The class of the exception ``call()`` raises, or None."""
    try:
        call()
    except Exception as exc:  # the reference's error class is the expectation
        return type(exc)
    return None


def errors_on_every_process(case: Case, errors: Sequence[type[BaseException] | None], *,
                            keep_state: bool) -> list[Expected] | None:
    """Per process, the error of its model-parallel rank (``errors[rank]``), with the
    state it loaded when ``keep_state``; None when no rank raises."""
    if not any(errors):
        return None
    world = case.world
    return [Expected(error=errors[world.coords(p)[1]],
                     state_before=case.states[p] if keep_state and case.states else None)
            for p in range(world.nprocs)]


def replica_inputs(case: Case) -> list[torch.Tensor]:
    """The input of each replica (that of its rank 0 process), in replica order."""
    return [case.inputs[d * case.world.size] for d in range(case.world.dp_size)]


def input_errors(case: Case) -> list[Expected] | None:
    """Every process's error for an invalid input (index dtype, S0.2; id range, S0.3),
    its state left as loaded (S0.4), or None. A grid where only some replicas see an
    invalid input is outside the spec and rejected here."""
    num_embeddings = case.config.num_embeddings
    errors = [error_of(lambda x=x: check_indices(x, num_embeddings))
              for x in replica_inputs(case)]
    if not any(errors):
        return None
    if not all(errors):
        raise ValueError("a grid where only some replicas see an invalid input is outside "
                         "the spec; give every replica an invalid input or none")
    world = case.world
    return [Expected(error=errors[world.coords(p)[0]], state_before=case.states[p])
            for p in range(world.nprocs)]


def padding_row(config: LayerConfig) -> int | None:
    """``config.padding_idx`` as a row number (a negative one counted from the end)."""
    return normalize_padding_idx(config.padding_idx, config.num_embeddings)


def renorm_allowance(full_before: torch.Tensor, ids: torch.Tensor, max_norm: float,
                     norm_type: float, before: torch.Tensor, after: torch.Tensor,
                     columns: tuple[int, int] | None = None) -> Renorm:
    """What a renorm of the rows ``ids`` references allows of a stored table (S1.2):
    ``before``/``after`` are the table (or, with ``columns``, the column block of it a
    shard stores) as loaded and as the reference leaves it; norms are those of the full
    rows of ``full_before``. An ambiguous row's other acceptable value is the row as
    loaded when the reference renormalised it, else the row scaled by
    ``max_norm / (norm + 1e-7)`` in float64."""
    allowance = tolerance.renormalisation(full_before, ids, max_norm, norm_type)
    renormed = (after.to(torch.float64) != before.to(torch.float64)).any(dim=1)
    rows = allowance.ambiguous.nonzero().reshape(-1)
    alternative = after.clone()
    if rows.numel() and after.shape[1]:
        norms = tolerance.row_norms(full_before[rows], norm_type).unsqueeze(1)
        scaled = (before[rows].to(torch.float64) * (max_norm / (norms + RENORM_EPS)))
        alternative[rows] = torch.where(renormed[rows].unsqueeze(1), before[rows],
                                        scaled.to(before.dtype))
    bound = allowance.bound if columns is None else columns_of(allowance.bound, *columns)
    return Renorm(loaded=before, may_change=(renormed | allowance.ambiguous).nonzero().reshape(-1),
                  ambiguous=rows, alternative=alternative, bound=bound)


def columns_of(bound: tolerance.Bound, start: int, end: int) -> tolerance.Bound:
    """The bound of columns ``[start, end)`` of a bound on a ``(V, D)`` table."""
    def cut(t: torch.Tensor) -> torch.Tensor:
        return t[..., start:end] if t.dim() and t.shape[-1] > 1 else t

    return tolerance.Bound(tuple(tolerance.Part(cut(p.terms), cut(p.magnitude), p.dtype)
                                 for p in bound.parts))


def grad_of(output: torch.Tensor, weight: torch.Tensor,
            grad_output: torch.Tensor) -> torch.Tensor:
    """The gradient of ``weight`` from ``output.backward(grad_output)`` (zeros when
    ``output`` does not depend on it)."""
    (grad,) = torch.autograd.grad(output, weight, grad_output, allow_unused=True)
    return torch.zeros_like(weight) if grad is None else grad.detach()


def multi_rank_layer(config: LayerConfig, rank: int, world_size: int) -> nn.Module:
    """The reference layer of ``rank`` of ``world_size`` of a multi-rank family, its
    table as initialised (see :func:`kept_rng`)."""
    cls = VocabParallelEmbedding if config.family == "vocab_parallel" else ShardedEmbedding
    with kept_rng():
        return cls.from_config(config, rank=rank, world_size=world_size)


def multi_rank_build_errors(case: Case) -> list[type[BaseException] | None]:
    """Per model-parallel rank, the error its reference constructor raises, or None."""
    return [error_of(lambda rank=rank: multi_rank_layer(case.config, rank, case.world.size))
            for rank in range(case.world.size)]


def reference_world(config: LayerConfig, size: int,
                    states: Sequence[dict[str, torch.Tensor]]) -> list[nn.Module]:
    """Reference layers of ranks ``0..size-1`` holding ``states`` (one per rank)."""
    layers = []
    for rank in range(size):
        layer = multi_rank_layer(config, rank, size)
        layer.load_state_dict({k: v.clone() for k, v in states[rank].items()}, assign=True)
        layers.append(layer)
    return layers
