"""A bench run of one backend: its scenarios, the noise band, its gates (with one
re-run of each scenario a gate is below on), the growth tables."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence

import torch
from embedspec.backends.contract import Backend

from . import scenarios as catalogue
from .gates import GateFile
from .growth import growth_tables
from .noise import run_band
from .results import BenchRun, ScenarioResult
from .runner import Settings, run_scenario, skipped, timing_caveat
from .scenarios import Scenario
from .timing import Clock
from .verdicts import after_rerun, judge_all, judge_gate, needs_rerun


def run_bench(backend: Backend, scenarios: Sequence[Scenario], *, device: torch.device,
              clock: Clock, settings: Settings, gate_file: GateFile | None = None,
              growth: bool = True, progress: Callable[[str], None] = lambda _: None
              ) -> BenchRun:
    """Run ``scenarios`` on ``backend`` and judge its gates."""
    start = time.monotonic()
    threads = torch.get_num_threads()
    results: list[ScenarioResult] = []
    caveat = timing_caveat(backend, device)
    if caveat:
        progress(f"{backend.name} is not timed on {device.type}: {caveat}")
        growth = False
    for i, scenario in enumerate(scenarios, 1):
        results.append(skipped(scenario, backend, caveat) if caveat else
                       run_scenario(scenario, backend, device, clock, settings))
        progress(f"[{i}/{len(scenarios)}] {scenario.name}: {_line(results[-1])}")
    band = run_band(r.aa() for r in results if r.status == "ok")
    gates = gate_file.gates if gate_file else ()
    verdicts = judge_all(gates, results, band, device=device.type, threads=threads,
                         selected=[s.name for s in scenarios])
    by_name = {s.name: s for s in scenarios}
    for name in needs_rerun(verdicts):
        progress(f"re-run {name}: a gate is below its threshold by more than the noise band")
        rerun = run_scenario(by_name[name], backend, device, clock, settings)
        rerun.rerun = True
        for i, verdict in enumerate(verdicts):
            if verdict.scenario == name and verdict.verdict == "below":
                gate = next(g for g in gates if g.describe() == verdict.gate and g.matches(name))
                verdicts[i] = after_rerun(verdict, judge_gate(gate, rerun, band))
        results.append(rerun)
    tables = growth_tables(backend, device, clock, settings, progress) if growth else []
    return BenchRun(
        backend=backend.name, version=_version(backend), device=str(device), clock=clock.name,
        threads=threads, band=band, scenarios=results, gates=verdicts,
        gates_path=str(gate_file.path) if gate_file else None,
        stale_gates=([g.scenario for g in gate_file.stale(s.name for s in catalogue.FULL)]
                     if gate_file else []),
        growth=tables, compile_s=sum(settings.compile_times.values()),
        duration_s=time.monotonic() - start,
        versions={"python": platform.python_version(), "torch": torch.__version__,
                  "machine": f"{platform.machine()}, {_cpus()} CPUs"})


def _line(result: ScenarioResult) -> str:
    if result.status != "ok":
        return f"{result.status}: {result.reason}"
    best = result.time(result.backend)
    speedup = result.speedup("torch.nn")
    text = f"{best * 1e3:.3f} ms" if best is not None else "?"
    return text + (f", {speedup:.2f}x torch.nn" if speedup is not None else "")


def _version(backend: Backend) -> str:
    try:
        return str(backend.version)
    except Exception as error:
        return f"? ({type(error).__name__})"


def _cpus() -> int:
    import os

    return os.cpu_count() or 0
