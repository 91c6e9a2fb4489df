"""Running a :class:`~embedspec.conformance.checks.case.Case` as one process of its
world (:func:`execute`), and the runner of one-process worlds (:class:`LocalRunner`).

:func:`execute` is what every process runs, here or in a distributed worker: build
the backend's layer, load the process's state, perform the case's action, report a
:class:`~embedspec.conformance.checks.case.RankOutcome`. It never raises for the
backend's errors: they are part of the outcome.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import torch
from embedspec.backends.contract import Backend, BuildContext
from embedspec.conformance.checks.case import Case, ErrorInfo, RankOutcome, World
from embedspec.conformance.checks.transforms import run_transformed

#: Frames of a backend's traceback kept in an :class:`ErrorInfo` (the innermost ones).
TRACEBACK_FRAMES = 12


def _error_info(exc: BaseException, during: str) -> ErrorInfo:
    mro = tuple(c.__name__ for c in type(exc).__mro__ if issubclass(c, BaseException))
    frames = traceback.extract_tb(exc.__traceback__)[1:][-TRACEBACK_FRAMES:]
    text = "".join(traceback.format_list(frames))
    return ErrorInfo(type(exc).__name__, str(exc), mro, during, text)


def execute(backend: Backend, case: Case, proc: int, context: BuildContext) -> RankOutcome:
    """Run ``case`` as process ``proc`` with ``backend``; never raises for the backend's errors."""
    with default_dtype(case.default_dtype):
        return _execute(backend, case, proc, context)


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype | None) -> Iterator[None]:
    """``torch``'s global default dtype set to ``dtype`` inside the block (no change for
    None), restored afterwards."""
    if dtype is None:
        yield
        return
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _execute(backend: Backend, case: Case, proc: int, context: BuildContext) -> RankOutcome:
    outcome = RankOutcome()
    device = torch.device(case.device)
    try:
        layer = backend.build(case.config, context)
    except Exception as exc:
        outcome.error = _error_info(exc, "build")
        return outcome
    if case.action == "from_pretrained":
        try:
            layer = _pretrained(layer, case, proc, device, outcome)
        except Exception as exc:
            outcome.error = _error_info(exc, "from_pretrained")
            return outcome
    layer.train()
    if case.action == "build":
        outcome.extra["optimizer_overrides"] = optimizer_overrides(layer)
    reported = layer
    try:
        if case.states and case.action != "from_pretrained":
            with torch.no_grad():
                layer.load_state_dict({k: v.to(device) for k, v in case.states[proc].items()})
        if case.transform is not None:
            if case.action != "forward":
                raise ValueError(f"a transform applies to a forward, not to {case.action!r}")
            reported = run_transformed(layer, case, proc, device, outcome)
        elif case.action in ("forward", "forward_packed", "from_pretrained"):
            _forward(layer, case, proc, device, outcome)
        elif case.action == "weight_loader":
            layer.weight_loader(layer.weight, case.loaded_weight.to(device))
        elif case.action == "packed":
            packed = layer.packed()
            outcome.extra["packed"] = {k: v.detach().cpu() for k, v in _as_dict(packed).items()}
        elif case.action == "mapping":
            mapping = layer.get_sharded_to_full_mapping()
            outcome.extra["mapping"] = None if mapping is None else [int(i) for i in mapping]
        elif case.action == "reset_parameters":
            layer.reset_parameters()
    except Exception as exc:
        outcome.error = _error_info(exc, case.transform or case.action)
    outcome.state_after = _detach_state(reported)
    return outcome


def _pretrained(layer: torch.nn.Module, case: Case, proc: int, device: torch.device,
                outcome: RankOutcome) -> torch.nn.Module:
    """``type(layer).from_pretrained`` on the process's table, with the lookup options of
    the case's configuration; records whether the layer shares the table's storage."""
    config = case.config
    table = case.states[proc]["weight"].clone().to(device)
    options = {k: getattr(config, k) for k in ("padding_idx", "max_norm", "norm_type",
                                               "scale_grad_by_freq", "sparse")}
    pretrained = type(layer).from_pretrained(table, freeze=case.freeze, **options)
    outcome.extra["shares_storage"] = pretrained.weight.data_ptr() == table.data_ptr()
    return pretrained


def optimizer_overrides(layer: torch.nn.Module) -> dict[str, dict[str, Any]] | None:
    """The layer's declared optimizer-state hints (S1.8) as plain dicts, or None."""
    hints = getattr(layer, "optimizer_overrides", None)
    if hints is None:
        return None
    return {str(k): dict(v) for k, v in dict(hints).items()}


def _detach_state(layer: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in layer.state_dict().items()}


def _forward(layer: torch.nn.Module, case: Case, proc: int, device: torch.device,
             outcome: RankOutcome) -> None:
    indices = case.inputs[proc]
    if isinstance(indices, torch.Tensor):
        indices = indices.to(device)
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
        if out.requires_grad:  # a frozen layer's output has no graph to go back through
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
    """Runs cases of one-process worlds in this process."""

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
