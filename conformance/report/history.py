"""The report's memory: one compact JSON line per report run in ``history.jsonl`` of
the output folder, and what changed since the previous run.

An entry holds the run's date, settings, versions and git commit, per backend its
run status, version, profile, duration (seconds, for the next run's estimate of the
time left) and outcome counts, the verdict of every cell that has tests,
and, when the run was benchmarked, per backend and scenario its speedup against
each baseline and its roofline fraction, with the run's noise band.

"Changed since the previous run" lists the cells whose verdict changed (backends
present in both runs), the backends that appeared or went away, and the ratios that
moved by more than the noise band: ``|new / old - 1|`` above the larger of the two
runs' bands, and at least :data:`MIN_BAND`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedspec.conformance.report.model import Report
from embedspec.conformance.report.performance_data import bench_band, bench_ratios

HISTORY_FILE = "history.jsonl"
HISTORY_SCHEMA = 1
#: The smallest relative move of a ratio that counts as a change.
MIN_BAND = 0.02
#: How many runs the trend shows, the newest last.
TREND_RUNS = 20


@dataclass
class VerdictChange:
    backend: str
    family: str
    feature: str
    before: str
    after: str


@dataclass
class RatioChange:
    backend: str
    scenario: str
    metric: str  # a baseline's name (speedup against it) or "roofline"
    before: float
    after: float
    band: float


@dataclass
class History:
    """What the page and the Markdown show of the history. ``previous`` is None for
    the first run; ``trend`` maps a backend to its entries' (date, counts), oldest
    first, this run last."""

    previous: dict[str, Any] | None
    verdicts: list[VerdictChange] = field(default_factory=list)
    ratios: list[RatioChange] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    trend: dict[str, list[tuple[str, dict[str, int]]]] = field(default_factory=dict)
    #: lines of the history file that could not be read, with why
    unreadable: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.verdicts or self.ratios or self.added or self.removed)


def history_entry(report: Report) -> dict[str, Any]:
    """The compact entry of ``report`` for ``history.jsonl``."""
    verdicts: dict[str, dict[str, str]] = {}
    for row, by_backend in report.cells.items():
        for backend, cell in by_backend.items():
            if cell.verdict != "not_run":
                verdicts.setdefault("/".join(row), {})[backend] = cell.verdict
    return {
        "schema_version": HISTORY_SCHEMA,
        "generated": report.generated,
        "profile": report.profile, "seed": report.seed, "device": report.device,
        "git_commit": report.git_commit,
        "versions": dict(report.versions),
        "backends": {c.backend: {"version": c.version, "status": c.status,
                                 "profile": c.profile or report.profile,
                                 "duration_s": round(c.duration_s, 1),
                                 "counts": {k: v for k, v in c.counts.items() if v}}
                     for c in report.columns},
        "verdicts": verdicts,
        "ratios": {run["backend"]: bench_ratios(run) for run in report.bench},
        "bands": {run["backend"]: bench_band(run) for run in report.bench},
    }


def read_history(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries of a history file, oldest first, and the lines it could not read."""
    if not path.exists():
        return [], []
    entries, unreadable = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            unreadable.append(f"{path.name} line {number}: not JSON ({exc.msg}); ignored")
            continue
        if not isinstance(entry, dict) or entry.get("schema_version") != HISTORY_SCHEMA:
            unreadable.append(f"{path.name} line {number}: not a history entry of schema "
                              f"{HISTORY_SCHEMA}; ignored")
            continue
        entries.append(entry)
    return entries, unreadable


def record(report: Report, folder: Path, *, append: bool = True) -> History:
    """Compare ``report`` with the last entry of ``folder``'s history, append its own
    entry (unless ``append`` is False: an interrupted run is no baseline for the next),
    and return what changed (also set as ``report.history``)."""
    path = folder / HISTORY_FILE
    entries, unreadable = read_history(path)
    entry = history_entry(report)
    history = compare(entries[-1] if entries else None, entry)
    history.unreadable = unreadable
    history.trend = trend([*entries, entry])
    if append:
        folder.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
    report.history = history
    return history


def compare(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> History:
    """What changed from the entry ``before`` (None: no previous run) to ``after``."""
    history = History(previous=dict(before) if before is not None else None)
    if before is None:
        return history
    old, new = set(before["backends"]), set(after["backends"])
    history.added = sorted(new - old)
    history.removed = sorted(old - new)
    both = old & new
    rows = list(dict.fromkeys([*after["verdicts"], *before["verdicts"]]))
    for row in rows:
        family, feature = row.split("/", 1)
        for backend in sorted(both):
            was = before["verdicts"].get(row, {}).get(backend, "not_run")
            now = after["verdicts"].get(row, {}).get(backend, "not_run")
            if was != now:
                history.verdicts.append(VerdictChange(backend, family, feature, was, now))
    history.ratios = _ratio_changes(before, after)
    return history


def _ratio_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[RatioChange]:
    changes = []
    for backend, scenarios in after.get("ratios", {}).items():
        old_scenarios = before.get("ratios", {}).get(backend, {})
        band = max(MIN_BAND, before.get("bands", {}).get(backend) or 0.0,
                   after.get("bands", {}).get(backend) or 0.0)
        for scenario, metrics in scenarios.items():
            for metric, value in metrics.items():
                was = old_scenarios.get(scenario, {}).get(metric)
                if was and value is not None and abs(value / was - 1.0) > band:
                    changes.append(RatioChange(backend, scenario, metric, was, value, band))
    return changes


def trend(entries: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[str, dict[str, int]]]]:
    """backend -> (generated, counts) of the last :data:`TREND_RUNS` entries it is in."""
    found: dict[str, list[tuple[str, dict[str, int]]]] = {}
    for entry in entries[-TREND_RUNS:]:
        for backend, data in entry["backends"].items():
            found.setdefault(backend, []).append((entry["generated"], dict(data["counts"])))
    return found
