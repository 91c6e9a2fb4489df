"""Reading the results of ``embedspec bench`` (``bench.json``, format
``embedspec-bench/1``) for the report, as plain parsed JSON so the report does not
depend on the bench machinery.

A bench run is ``{"backend", "version", "device", "clock", "threads", "band",
"scenarios": [{"scenario", "status", "reason", "backend", "timings": {name: {"role",
"stats": {"min", "median", "max", ...} | null, "error"}}, ...}], "gates": [{"scenario",
"gate", "threshold", "value", "verdict", "reason", ...}], "growth": [{"axis", "fixed",
"points": [{"x", "times": {"backend": s, "torch.nn": s}}], "slopes", "fit_from"}], ...}``.
Every ratio uses an implementation's best round (``stats.min``), as the bench does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

BENCH_FORMAT = "embedspec-bench/1"
COPY = "copy"
#: Timings that are not baselines of a speedup.
NOT_BASELINES = ("copy", "aa")


def best_time(scenario: Mapping[str, Any], name: str) -> float | None:
    """``name``'s best round on ``scenario``, seconds per call (None: not timed)."""
    timing = scenario.get("timings", {}).get(name)
    stats = timing.get("stats") if timing else None
    return float(stats["min"]) if stats else None


def baselines(scenario: Mapping[str, Any]) -> list[str]:
    """The baselines timed beside the backend, in the file's order."""
    return [name for name, t in scenario.get("timings", {}).items()
            if t.get("role") not in ("backend", *NOT_BASELINES)]


def speedup(scenario: Mapping[str, Any], baseline: str) -> float | None:
    """The baseline's time over the backend's."""
    mine, theirs = best_time(scenario, scenario["backend"]), best_time(scenario, baseline)
    return None if mine is None or theirs is None or mine <= 0 else theirs / mine


def roofline(scenario: Mapping[str, Any]) -> float | None:
    """The copy's time over the backend's: the fraction of the copy roofline."""
    mine, copy = best_time(scenario, scenario["backend"]), best_time(scenario, COPY)
    return None if mine is None or copy is None or mine <= 0 else copy / mine


def bench_ratios(run: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """scenario -> {baseline: speedup, "roofline": fraction} of the timed scenarios."""
    ratios: dict[str, dict[str, float]] = {}
    for scenario in run.get("scenarios", []):
        if scenario.get("status") != "ok":
            continue
        values = {b: speedup(scenario, b) for b in baselines(scenario)}
        values["roofline"] = roofline(scenario)
        kept = {k: round(v, 4) for k, v in values.items() if v is not None}
        if kept:
            ratios[scenario["scenario"]] = kept
    return ratios


def bench_band(run: Mapping[str, Any]) -> float:
    """The run's noise band (median A/A deviation)."""
    return float(run.get("band") or 0.0)


def load_bench_results(folders: Iterable[Path]) -> list[dict[str, Any]]:
    """The parsed ``bench.json`` of each folder that has one (``ValueError`` naming the
    file when one is not a bench result)."""
    runs = []
    for folder in folders:
        path = Path(folder) / "bench.json"
        if not path.exists():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{path}: not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != BENCH_FORMAT:
            raise ValueError(f"{path}: not an embedspec bench result (format "
                             f"{data.get('format') if isinstance(data, dict) else None!r}, "
                             f"expected {BENCH_FORMAT!r})")
        runs.append(data)
    return runs
