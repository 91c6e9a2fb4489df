"""The Markdown report's performance section (``embedspec report --bench``), from the
parsed ``bench.json`` of each benchmarked backend
(:mod:`embedspec.conformance.report.performance_data` describes the shape): per
backend its settings and noise band, a table of its scenarios (speedup against each
baseline, roofline fraction, gate verdicts), its growth tables with their fitted
slopes, and the backends that could not be benchmarked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from embedspec.conformance.report.performance_data import baselines, roofline, speedup
from tabulate import tabulate

DASH = "—"
GROWTH_AXES = {"ids": "ids per call", "rows": "table rows"}


def performance_markdown(runs: Sequence[Mapping[str, Any]],
                         not_run: Sequence[tuple[str, str]] = ()) -> str:
    """``## Performance``; "" when nothing was benchmarked."""
    if not runs and not not_run:
        return ""
    blocks = [_run(run) for run in runs]
    if not_run:
        blocks.append("### Not benchmarked\n\n"
                      + "\n".join(f"- {name}: {reason}" for name, reason in not_run))
    return ("## Performance\n\nEach backend's quick bench set (`embedspec bench`, see "
            "docs/performance.md): speedup = a baseline's time over the backend's (higher is "
            "better); roofline = the time of copying the bytes the operation must move over "
            "the backend's. Every ratio uses the best of the interleaved rounds of one run.\n\n"
            + "\n\n".join(blocks))


def _run(run: Mapping[str, Any]) -> str:
    scenarios = run.get("scenarios", [])
    names = list(dict.fromkeys(b for s in scenarios for b in baselines(s)))
    gates: dict[str, list[str]] = {}
    for gate in run.get("gates", []):
        if gate.get("verdict") != "not applicable":
            gates.setdefault(gate.get("scenario"), []).append(
                f"{gate.get('verdict')} ({gate.get('gate')})")
    rows = []
    for s in scenarios:
        name = s.get("scenario", "?") + (" (re-run)" if s.get("rerun") else "")
        if s.get("status") != "ok":
            rows.append([name, f"{s.get('status')}: {s.get('reason', '')}",
                         *[DASH] * len(names), DASH, DASH])
            continue
        fraction = roofline(s)
        rows.append([name, "ok", *[_x(speedup(s, b)) for b in names],
                     DASH if fraction is None else f"{fraction:.0%}",
                     "; ".join(gates.get(s.get("scenario"), [])) or DASH])
    table = tabulate(rows, headers=["scenario", "status", *[f"vs {b}" for b in names],
                                    "roofline", "gates"], tablefmt="github",
                     disable_numparse=True)
    settings = (f"{run.get('version', '')} on **{run.get('device')}**, {run.get('clock')} "
                f"clock, {run.get('threads')} threads, noise band "
                f"±{float(run.get('band') or 0):.1%}")
    stale = run.get("stale_gates") or []
    lines = [f"### {run.get('backend', '?')}", "", settings, "", table]
    if stale:
        lines += ["", "Stale gates (no such scenario): " + ", ".join(f"`{g}`" for g in stale)]
    lines += [_growth(t) for t in run.get("growth", [])]
    return "\n".join(lines)


def _growth(table: Mapping[str, Any]) -> str:
    label = GROWTH_AXES.get(table.get("axis"), str(table.get("axis")))
    rows = [[f"{p['x']:,}", *[_ms(p.get("times", {}).get(n)) for n in ("backend", "torch.nn")]]
            for p in table.get("points", [])]
    slopes = ", ".join(f"{n} {DASH if v is None else f'{v:.2f}'}"
                       for n, v in (table.get("slopes") or {}).items())
    return (f"\n#### Growth against {label} ({table.get('fixed', '')})\n\n"
            + tabulate(rows, headers=[label, "backend ms", "torch.nn ms"], tablefmt="github",
                       disable_numparse=True)
            + f"\n\nFitted log-log slope from {table.get('fit_from', 0):,} up: {slopes}.")


def _x(ratio: float | None) -> str:
    return DASH if ratio is None else f"{ratio:.2f}x"


def _ms(seconds: float | None) -> str:
    return DASH if seconds is None else f"{seconds * 1e3:.3f}"
