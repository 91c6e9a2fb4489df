"""Cases and outcomes: the unit of work the conformance suite hands to a backend.

A :class:`Case` is plain data (picklable), so the same case runs in this process
(:class:`LocalRunner`) or is shipped to every rank of a multi-process world by a
distributed runner. Each process builds the backend's layer for the case's
configuration, loads its state, performs the case's action and reports a
:class:`RankOutcome`. The tests compare outcomes with the reference.

Process order in a world: ``proc = dp_rank * world.size + rank``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from embedspec.backends.contract import Backend, BuildContext
from embedspec.reference.configs import LayerConfig

Action = Literal["build", "forward", "forward_packed", "weight_loader", "packed"]


@dataclass(frozen=True)
class World:
    """``size`` model-parallel ranks times ``dp_size`` data-parallel replicas."""

    size: int = 1
    dp_size: int = 1

    @property
    def nprocs(self) -> int:
        return self.size * self.dp_size

    def coords(self, proc: int) -> tuple[int, int]:
        """``(dp_rank, rank)`` of process ``proc``."""
        return divmod(proc, self.size)

    def __str__(self) -> str:
        return f"{self.dp_size}x{self.size}" if self.dp_size > 1 else str(self.size)


@dataclass
class Case:
    """One conformance check's input, for every process of a world.

    ``states``, ``inputs`` and ``grad_outputs`` hold one entry per process.
    Actions: ``build`` (construct only; for configuration errors), ``forward``
    (forward, then backward when ``grad_outputs`` is given), ``forward_packed``
    (``layer.forward_packed(indices)``: the binary family's packed path), ``weight_loader``
    (call ``layer.weight_loader(layer.weight, loaded_weight)``), ``packed``
    (call ``layer.packed()`` and report its tensors).
    ``repeat`` runs the forward that many times (determinism checks); every
    output is kept in ``RankOutcome.extra["outputs"]``. ``write_output`` overwrites
    every element of the forward output in place after the backward, so a layer whose
    output aliases its parameters shows it in ``state_after`` (S0.1).
    """

    config: LayerConfig
    states: list[dict[str, torch.Tensor]] = field(default_factory=list)
    inputs: list[torch.Tensor] = field(default_factory=list)
    grad_outputs: list[torch.Tensor] | None = None
    world: World = field(default_factory=World)
    device: str = "cpu"
    action: Action = "forward"
    loaded_weight: torch.Tensor | None = None
    repeat: int = 1
    write_output: bool = False


@dataclass
class ErrorInfo:
    type: str
    message: str
    #: the exception's class and its bases, most derived first (``IndexError``, ...)
    mro: tuple[str, ...] = ()

    def is_a(self, cls: type[BaseException]) -> bool:
        return cls.__name__ in self.mro


@dataclass
class RankOutcome:
    """What one process observed."""

    output: torch.Tensor | None = None
    grads: dict[str, torch.Tensor | None] = field(default_factory=dict)
    state_after: dict[str, torch.Tensor] = field(default_factory=dict)
    error: ErrorInfo | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Runner(Protocol):
    """Runs a case on every process of its world and returns the outcomes in process order."""

    def supports(self, world: World) -> bool: ...

    def run(self, case: Case) -> list[RankOutcome]: ...


def _error_info(exc: BaseException) -> ErrorInfo:
    mro = tuple(c.__name__ for c in type(exc).__mro__ if issubclass(c, BaseException))
    return ErrorInfo(type(exc).__name__, str(exc), mro)


def _detach_state(layer: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in layer.state_dict().items()}


def execute(backend: Backend, case: Case, proc: int, context: BuildContext) -> RankOutcome:
    """Run ``case`` as process ``proc`` with ``backend``; never raises for the backend's errors."""
    outcome = RankOutcome()
    device = torch.device(case.device)
    try:
        layer = backend.build(case.config, context)
    except Exception as exc:
        outcome.error = _error_info(exc)
        return outcome
    layer.train()
    try:
        if case.states:
            with torch.no_grad():
                layer.load_state_dict({k: v.to(device) for k, v in case.states[proc].items()})
        if case.action in ("forward", "forward_packed"):
            _forward(layer, case, proc, device, outcome)
        elif case.action == "weight_loader":
            layer.weight_loader(layer.weight, case.loaded_weight.to(device))
        elif case.action == "packed":
            packed = layer.packed()
            outcome.extra["packed"] = {k: v.detach().cpu() for k, v in _as_dict(packed).items()}
    except Exception as exc:
        outcome.error = _error_info(exc)
    outcome.state_after = _detach_state(layer)
    return outcome


def _forward(layer: torch.nn.Module, case: Case, proc: int, device: torch.device,
             outcome: RankOutcome) -> None:
    indices = case.inputs[proc].to(device)
    call = layer.forward_packed if case.action == "forward_packed" else layer
    outputs = []
    for _ in range(max(1, case.repeat)):
        layer.zero_grad(set_to_none=True)
        out = call(indices)
        outputs.append(out.detach().cpu().clone())
    outcome.output = outputs[-1]
    outcome.extra["output_device"] = str(out.device)
    if case.repeat > 1:
        outcome.extra["outputs"] = outputs
    if case.grad_outputs is not None:
        out.backward(case.grad_outputs[proc].to(device))
        outcome.grads = {
            name: None if p.grad is None else p.grad.detach().cpu().clone()
            for name, p in layer.named_parameters()
        }
    if case.write_output:
        with torch.no_grad():
            out.detach().fill_(float("nan") if out.is_floating_point() else 1)


def _as_dict(packed: Any) -> dict[str, torch.Tensor]:
    if isinstance(packed, dict):
        return packed
    if hasattr(packed, "_asdict"):
        return packed._asdict()
    return {k: v for k, v in vars(packed).items() if isinstance(v, torch.Tensor)}


class LocalRunner:
    """Runs single-process cases in this process."""

    def __init__(self, backend: Backend,
                 context_factory: Callable[[Case], BuildContext] | None = None) -> None:
        self.backend = backend
        self._context = context_factory or (lambda case: BuildContext(device=case.device))

    def supports(self, world: World) -> bool:
        return world.nprocs == 1

    def run(self, case: Case) -> list[RankOutcome]:
        if not self.supports(case.world):
            raise ValueError(f"LocalRunner runs worlds of one process, got {case.world}")
        return [execute(self.backend, case, 0, self._context(case))]
