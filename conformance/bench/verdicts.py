"""Judging gates against a run: which scenarios each gate covers, its value there and
its verdict (the rule is :func:`embedspec.conformance.bench.noise.judge`; a value
above the roofline is suspect, never a pass)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .gates import Gate
from .noise import BELOW, judge
from .results import GateResult, ScenarioResult


def gate_value(gate: Gate, result: ScenarioResult) -> tuple[float | None, str]:
    """The gate's metric on ``result``, or None with the reason."""
    if gate.metric == "roofline":
        value = result.fraction()
        return value, "" if value is not None else "the copy probe was not timed"
    value = result.speedup(gate.baseline or "")
    if value is None:
        timing = result.timings.get(gate.baseline or "")
        why = timing.error if timing is not None and timing.error else "not timed"
        return None, f"baseline {gate.baseline} {why}"
    return value, ""


def judge_gate(gate: Gate, result: ScenarioResult, band: float) -> GateResult:
    """The verdict of ``gate`` on one scenario's result (no re-run)."""
    verdict = GateResult(result.scenario, gate.describe(), gate.threshold, None, "not run")
    if result.status == "rejected":
        verdict.verdict, verdict.reason = "rejected", result.reason
        return verdict
    if result.status != "ok":
        verdict.reason = f"{result.status}: {result.reason}"
        return verdict
    value, reason = gate_value(gate, result)
    verdict.value, verdict.reason = value, reason
    if value is None:
        return verdict
    if result.suspect(band):
        verdict.verdict = "suspect"
        verdict.reason = (f"{result.fraction():.0%} of the copy roofline: faster than moving "
                          "the bytes the operation needs")
        return verdict
    verdict.verdict = judge(value, gate.threshold, band)
    return verdict


def judge_all(gates: Sequence[Gate], results: Iterable[ScenarioResult], band: float, *,
              device: str, threads: int, selected: Iterable[str]) -> list[GateResult]:
    """Every (gate, scenario) pair: the scenarios of the run a gate matches, and one
    "not run" line per gate that matches none of them."""
    by_name = {r.scenario: r for r in results}
    selected = list(selected)
    verdicts = []
    for gate in gates:
        names = [n for n in selected if gate.matches(n)]
        if not gate.applies(device, threads):
            verdicts += [GateResult(n, gate.describe(), gate.threshold, None, "not applicable",
                                    reason=f"gate is for devices {gate.devices}, "
                                           f"threads {gate.threads}") for n in names]
            continue
        if not names:
            verdicts.append(GateResult(gate.scenario, gate.describe(), gate.threshold, None,
                                       "not run", reason="no selected scenario matches"))
        verdicts += [judge_gate(gate, by_name[n], band) for n in names]
    return verdicts


def needs_rerun(verdicts: Iterable[GateResult]) -> list[str]:
    """The scenarios with a gate below its threshold by more than the band."""
    return list(dict.fromkeys(v.scenario for v in verdicts if v.verdict == BELOW))


def after_rerun(first: GateResult, second: GateResult) -> GateResult:
    """The verdict once a below-threshold scenario was measured again: ``fails`` when
    the re-run is below too, else the re-run's verdict."""
    final = GateResult(first.scenario, first.gate, first.threshold, first.value,
                       second.verdict, rerun_value=second.value, reason=second.reason)
    if second.verdict == BELOW:
        final.verdict = "fails"
        final.reason = (f"below the threshold by more than the noise band, "
                        f"in the run and in its re-run {second.reason}").strip()
    elif not final.reason:
        final.reason = "after a re-run"
    return final
