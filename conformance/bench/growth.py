"""Growth tables: how a backend's forward time grows with the number of ids (1 to
1e5, T5's table) and with the table's rows (1e3 to 1e6, 128 columns, 4096 ids),
next to ``torch.nn``, with the slope of ``log(time)`` against ``log(x)`` fitted by
least squares. A gather's time should grow linearly with the ids (slope 1 once the
fixed cost of a call no longer dominates, so the fit starts at 1000 ids) and hardly
with the rows (slope near 0); a larger slope is a cost that grows faster than the
work."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from embedspec.backends.contract import Backend

from .results import GrowthPoint, GrowthTable, ScenarioResult
from .runner import Settings, run_scenario
from .scenarios import TABLES, Scenario, Table
from .timing import Clock

ID_COUNTS = (1, 10, 100, 1000, 10_000, 100_000)
ID_FIT_FROM = 1000
ROW_COUNTS = (1000, 10_000, 100_000, 1_000_000)
ROW_IDS = 4096
ROW_DIM = 128
NAMES = ("backend", "torch.nn")


def fitted_slope(xs: Sequence[float], ys: Sequence[float | None]) -> float | None:
    """The least-squares slope of ``log y`` against ``log x`` (None for < 2 points)."""
    pairs = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True)
             if y is not None and y > 0]
    if len(pairs) < 2:
        return None
    mx = sum(p[0] for p in pairs) / len(pairs)
    my = sum(p[1] for p in pairs) / len(pairs)
    sxx = sum((p[0] - mx) ** 2 for p in pairs)
    return sum((p[0] - mx) * (p[1] - my) for p in pairs) / sxx


def growth_tables(backend: Backend, device: torch.device, clock: Clock, settings: Settings,
                  progress: Callable[[str], None] = lambda _: None) -> list[GrowthTable]:
    """The id-count and row-count tables of ``backend`` (forward, ``torch.nn`` beside)."""
    small = Settings(rounds=max(3, settings.rounds // 2), min_block_s=settings.min_block_s,
                     baselines=("torch.nn",), seed=settings.seed, measure_memory=False)
    t5 = TABLES["t5"]
    by_ids = [Scenario(t5, "forward", n) for n in ID_COUNTS]
    by_rows = [Scenario(Table(f"rows-{v}", "growth", v, ROW_DIM), "forward", ROW_IDS)
               for v in ROW_COUNTS]
    tables = []
    for axis, fixed, scenarios, xs, fit_from in (
            ("ids", f"T5 table {t5.num_embeddings} x {t5.embedding_dim}", by_ids, ID_COUNTS,
             ID_FIT_FROM),
            ("rows", f"{ROW_IDS} ids, D = {ROW_DIM}", by_rows, ROW_COUNTS, ROW_COUNTS[0])):
        points = []
        for x, scenario in zip(xs, scenarios, strict=True):
            result = run_scenario(scenario, backend, device, clock, small)
            progress(f"growth {axis} = {x}: {result.status}")
            points.append(GrowthPoint(x, _times(result, backend.name)))
        fitted = [p for p in points if p.x >= fit_from]
        slopes = {n: fitted_slope([p.x for p in fitted], [p.times[n] for p in fitted])
                  for n in NAMES}
        tables.append(GrowthTable(axis, fixed, points, slopes, fit_from))
    return tables


def _times(result: ScenarioResult, backend: str) -> dict[str, float | None]:
    if result.status != "ok":
        return dict.fromkeys(NAMES)
    return {"backend": result.time(backend), "torch.nn": result.time("torch.nn")}
