"""One scenario, start to finish: build, check, time, measure.

1. Skip it, with the reason, when the backend does not declare the operation's
   capabilities or the scenario would not fit the device's free memory.
2. Build the backend's layer through the contract (``backend.build(config,
   context)``), the reference layer and the baselines on the same weights (shared;
   copied for an operation that changes them) and the same ids.
3. Check one call of each against the reference (:mod:`.guards`); a backend that
   differs is rejected and nothing is timed; a baseline that differs is left out.
4. Time the backend, the baselines, the A/A twin of ``torch.nn`` and the copy probe
   in interleaved rounds (:mod:`.timing`), then one call each for its memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from embedspec.backends.contract import Backend, BuildContext, dtype_name
from embedspec.reference.configs import LayerConfig
from torch import nn

from . import baselines as base
from .guards import Observed, mismatch, observe, reference_module
from .ids import IdPool
from .memory import available_bytes, needed_bytes, peak_bytes
from .operations import OPERATIONS, Operation, id_range, make_step
from .results import AA, COPY, ScenarioResult, Timing
from .roofline import FORMULAS, Sizes, bytes_moved, copy_probe
from .scenarios import Scenario
from .timing import Clock, interleaved

#: Fraction of the free memory a scenario may plan to use.
MEMORY_HEADROOM = 0.8


@dataclass(frozen=True)
class Settings:
    rounds: int = 9
    min_block_s: float = 0.02
    baselines: tuple[str, ...] = base.BASELINES
    seed: int = 0
    measure_memory: bool = True
    #: compile times of torch.compile's first calls, by scenario (filled as a side effect)
    compile_times: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass
class _Impl:
    name: str
    role: str
    module: Callable[[torch.Tensor], torch.Tensor]
    parameters: list[nn.Parameter]
    step: Callable[[], torch.Tensor] | None = None
    setup_s: float = 0.0


def run_scenario(scenario: Scenario, backend: Backend, device: torch.device, clock: Clock,
                 settings: Settings) -> ScenarioResult:
    """The result of ``scenario`` on ``backend`` (never raises for the backend's faults)."""
    op = OPERATIONS[scenario.operation]
    result = _new_result(scenario, backend)
    config = op.config(scenario.table)
    unsupported = _unsupported(backend, op, scenario, device)
    if unsupported:
        return _status(result, "skipped", unsupported)
    too_big = _does_not_fit(scenario, op, device)
    if too_big:
        return _status(result, "skipped", too_big)
    torch.manual_seed(settings.seed)
    try:
        module = backend.build(config, BuildContext(device=device))
    except NotImplementedError as error:
        return _status(result, "skipped", f"the backend does not build it: {error}")
    except Exception as error:
        return _status(result, "error", f"build failed: {type(error).__name__}: {error}")
    pool = IdPool(scenario.table, scenario.num_ids, device,
                  num_valid=id_range(op, scenario.table), seed=settings.seed)
    state = {k: v.detach() for k, v in module.state_dict().items()}
    snapshot = {k: v.clone() for k, v in state.items()} if op.mutates else state
    reference = reference_module(config, _copy(snapshot, op), device)
    grad_output = _grad_output(reference, op, pool, device, settings.seed)
    expected = _observe_once(reference, op, pool, grad_output)
    del reference
    impl = _Impl(backend.name, "backend", module, list(module.parameters()))
    try:
        problem = mismatch(_observe_once(module, op, pool, grad_output), expected,
                           exact=op.exact)
    except Exception as error:
        problem = f"the call raised {type(error).__name__}: {error}"
    if problem:
        result.timings[backend.name] = Timing(backend.name, "backend", error=problem)
        return _status(result, "rejected", f"output differs from the reference: {problem}")
    impls = [impl, *_baselines(config, snapshot, op, pool, grad_output, expected, device,
                               settings, result, backend.name)]
    sizes = _sizes(pool, module, expected.output, scenario)
    result.bytes = bytes_moved(op.name, sizes)
    torch_nn = next((i for i in impls if i.name == "torch.nn"), None)
    if torch_nn is not None:
        impls.append(_Impl(AA, "aa", torch_nn.module, torch_nn.parameters))
    impls.append(_Impl(COPY, "copy", copy_probe(result.bytes, device), []))
    for i in impls:
        if i.step is None:
            i.step = (i.module if i.role == "copy" else
                      make_step(i.module, op, pool.cycle(), grad_output, i.parameters))
    stats = interleaved({i.name: i.step for i in impls}, clock, rounds=settings.rounds,
                        min_block_s=settings.min_block_s,
                        after_block={i.name: _dropper(i.parameters) for i in impls},
                        seed=settings.seed)
    for i in impls:
        peak = peak_bytes(i.step, device) if settings.measure_memory else None
        _dropper(i.parameters)()
        result.timings[i.name] = Timing(i.name, i.role, stats[i.name], peak, i.setup_s)
    return result


def _baselines(config: LayerConfig, snapshot: dict[str, torch.Tensor], op: Operation,
               pool: IdPool, grad_output: torch.Tensor | None, expected: Observed,
               device: torch.device, settings: Settings, result: ScenarioResult,
               backend_name: str) -> list[_Impl]:
    """The baselines that build and agree with the reference; the others are recorded
    in ``result`` with the reason."""
    found: list[_Impl] = []
    plain: nn.Module | None = None
    for name in settings.baselines:
        if name == backend_name:
            continue
        try:
            if name == "torch.nn":
                plain = module = base.torch_nn_module(config, _copy(snapshot, op))
            elif name == "torch.compile":
                if plain is None:
                    raise RuntimeError("needs the torch.nn baseline")
                module = base.compiled(plain)
            else:
                module = base.eager_module(config, _copy(snapshot, op), device)
            module = module.to(device)
            impl = _Impl(name, "baseline", module, list(module.parameters()))
            impl.step = make_step(module, op, pool.cycle(), grad_output, impl.parameters)
            impl.setup_s = base.first_call_seconds(impl.step)
            if name == "torch.compile":
                settings.compile_times[result.scenario] = impl.setup_s
            problem = mismatch(_observe_once(module, op, pool, grad_output), expected,
                               exact=False, by_name=name == "eager")
        except Exception as error:
            problem = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
        if problem:
            result.timings[name] = Timing(name, "baseline", error=problem)
            continue
        found.append(impl)
    return found


def _observe_once(module: nn.Module, op: Operation, pool: IdPool,
                  grad_output: torch.Tensor | None) -> Observed:
    """One call on the pool's first ids, observed."""
    step = make_step(module, op, iter(pool.tensors[:1]), grad_output,
                     list(module.parameters()))
    return observe(module, step(), keep_state=op.mutates)


def _grad_output(reference: nn.Module, op: Operation, pool: IdPool, device: torch.device,
                 seed: int) -> torch.Tensor | None:
    """A fixed random gradient shaped like the output (None for a forward-only operation)."""
    if op.gradient is None:
        return None
    with torch.no_grad():
        like = reference(pool.tensors[0])
    generator = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(like.shape, generator=generator, device=device, dtype=like.dtype)


def _sizes(pool: IdPool, module: nn.Module, output: torch.Tensor, scenario: Scenario) -> Sizes:
    weight = module.state_dict()["weight"]
    ids = pool.tensors[0]
    return Sizes(N=ids.numel(), U=pool.mean_distinct(), V=weight.shape[0], D=weight.shape[1],
                 s_w=weight.element_size(), s_o=output.element_size(), s_i=ids.element_size())


def _copy(state: dict[str, torch.Tensor], op: Operation) -> dict[str, torch.Tensor]:
    """Each implementation's own copy of a table the operation changes; else shared."""
    return {k: v.clone() for k, v in state.items()} if op.mutates else dict(state)


def _dropper(parameters: Sequence[nn.Parameter]) -> Callable[[], None]:
    def drop() -> None:
        for p in parameters:
            p.grad = None
    return drop


def timing_caveat(backend: Backend, device: torch.device) -> str:
    """The backend's reason its times on ``device`` would not measure its kernels, or
    empty (a backend without the hook is timed; one whose hook raises is not)."""
    hook = getattr(backend, "timing_caveat", None)
    try:
        return str(hook(device.type)) if hook is not None else ""
    except Exception as error:
        return f"timing_caveat() raised {type(error).__name__}: {error}"


def skipped(scenario: Scenario, backend: Backend, reason: str) -> ScenarioResult:
    """``scenario`` not run on ``backend``, for ``reason``."""
    return _status(_new_result(scenario, backend), "skipped", f"not timed: {reason}")


def _new_result(scenario: Scenario, backend: Backend) -> ScenarioResult:
    op = OPERATIONS[scenario.operation]
    return ScenarioResult(scenario.name, scenario.describe(), op.name, backend.name, "ok",
                          formula=FORMULAS[op.name][1])


def _unsupported(backend: Backend, op: Operation, scenario: Scenario,
                 device: torch.device) -> str | None:
    try:
        capabilities = backend.capabilities()
    except Exception as error:
        return f"capabilities() raised {type(error).__name__}: {error}"
    dtype = dtype_name(scenario.table.dtype)
    missing = [f"{family} / {feature}" for family, feature in op.capabilities
               if not capabilities.supports(family, feature, dtype, device.type)]
    if missing:
        return f"unsupported: {', '.join(missing)} / {dtype} / {device.type} not declared"
    return None


def _does_not_fit(scenario: Scenario, op: Operation, device: torch.device) -> str | None:
    free = available_bytes(device)
    if free is None:
        return None
    table = scenario.table
    output = scenario.num_ids * table.embedding_dim * table.dtype.itemsize
    need = needed_bytes(table.weight_bytes, output, copies=5 if op.mutates else 2,
                        dense_gradient=op.gradient == "dense")
    if need <= MEMORY_HEADROOM * free:
        return None
    return (f"does not fit: needs about {need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB "
            f"free on {device.type}")


def _status(result: ScenarioResult, status: str, reason: str) -> ScenarioResult:
    result.status, result.reason = status, reason
    return result
