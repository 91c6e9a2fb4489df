"""Writing a :class:`~embedspec.conformance.report.model.Report` as JSON: everything
the page shows, for tools that build their own views. The schema is documented, with
its version, in ``docs/report-schema.md``; :data:`SCHEMA_VERSION` changes whenever a
field changes meaning or goes away."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from embedspec.conformance.report.describe import column_note, skip_reasons
from embedspec.conformance.report.history import History
from embedspec.conformance.report.model import Cell, Report
from embedspec.conformance.report.verdicts import VERDICT_MEANINGS, VERDICTS
from embedspec.conformance.session.failure_notes import failure_parts

SCHEMA_VERSION = 2
REPORT_FORMAT = f"embedspec-report/{SCHEMA_VERSION}"


def report_to_json(report: Report) -> dict[str, Any]:
    """``cells`` is a list of ``{"family", "feature", "backend", "status", ...}``
    objects; ``status`` is the cell's verdict."""
    return {
        "format": REPORT_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "generated": report.generated,
        "profile": report.profile, "seed": report.seed, "device": report.device,
        "git_commit": report.git_commit,
        "versions": dict(report.versions),
        "machine": dict(report.machine),
        "tolerance": report.tolerance,
        "verdicts": {v: {"label": label, "meaning": VERDICT_MEANINGS[v]}
                     for v, label in VERDICTS.items()},
        "columns": [asdict(c) | {"note": column_note(c, report.profile) or None}
                    for c in report.columns],
        "rows": [{"family": family, "feature": feature} for family, feature in report.rows],
        "cells": [_cell(row, backend, cell) for row, by_backend in report.cells.items()
                  for backend, cell in by_backend.items()],
        "divergences": [asdict(c) | {"shown": c.shown} for c in report.divergences],
        "undocumented": {b: [r.id for r in results]
                         for b, results in report.undocumented.items()},
        "not_run": [{"backend": name, "reason": reason} for name, reason in report.not_run],
        "history": _history(report.history),
        "bench": list(report.bench),
    }


def _cell(row: tuple[str, str], backend: str, cell: Cell) -> dict[str, Any]:
    return {
        "family": row[0], "feature": row[1], "backend": backend,
        "status": cell.verdict,
        "run_status": cell.run_status,
        "counts": dict(cell.counts),
        "pending": cell.pending,
        "dtypes": {dtype: dict(outcomes) for dtype, outcomes in cell.by_dtype.items()},
        "divergences": cell.divergences,
        "failing": [asdict(r) | {"example": parts.example, "repro": parts.repro,
                                 "repro_command": parts.command}
                    for r in cell.failing for parts in [failure_parts(r.notes)]],
        "expected": [asdict(r) for r in cell.expected],
        "skips": [asdict(r) for r in cell.skips],
        "skip_reasons": [{"reason": reason, "count": n} for reason, n in skip_reasons(cell)],
    }


def _history(history: History | None) -> dict[str, Any] | None:
    if history is None:
        return None
    return {
        "previous": None if history.previous is None else {
            k: history.previous.get(k) for k in ("generated", "git_commit", "versions")},
        "changed": history.changed,
        "verdicts": [asdict(c) for c in history.verdicts],
        "ratios": [asdict(r) for r in history.ratios],
        "added": history.added, "removed": history.removed,
        "trend": {b: [{"generated": when, "counts": counts} for when, counts in entries]
                  for b, entries in history.trend.items()},
        "unreadable": history.unreadable,
    }


def write_json(report: Report, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_to_json(report), indent=1) + "\n", encoding="utf-8")
