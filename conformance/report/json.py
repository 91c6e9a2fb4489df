"""Writing a :class:`~embedspec.conformance.report.model.Report` as JSON: the same model
as the Markdown report, for tools."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from embedspec.conformance.report.model import Report

REPORT_FORMAT = "embedspec-report/1"


def report_to_json(report: Report) -> dict[str, Any]:
    """``cells`` becomes a list of ``{"family", "feature", "backend", ...cell}`` objects."""
    data = asdict(report)
    data["format"] = REPORT_FORMAT
    data["rows"] = [{"family": family, "feature": feature} for family, feature in report.rows]
    data["cells"] = [
        {"family": row[0], "feature": row[1], "backend": backend, **asdict(cell)}
        for row, by_backend in report.cells.items()
        for backend, cell in by_backend.items()
    ]
    data["not_run"] = [{"backend": name, "reason": reason} for name, reason in report.not_run]
    return data


def write_json(report: Report, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_to_json(report), indent=1) + "\n", encoding="utf-8")
