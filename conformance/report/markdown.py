"""Rendering a :class:`~embedspec.conformance.report.model.Report` as Markdown.

The document holds, in order: the run's settings, the environment (versions,
machine, git commit), one line per backend (with its expectations file), what
changed since the previous run, the compatibility table (family x feature by
backend, each count with its dtypes) with its legend, the tolerance policy, then the
details the table links to: failures with their repro snippets, expected failures
with their reasons, the reasons of skipped and unsupported tests, crashes,
timeouts and interrupted runs with the end of the run's output, and backends not run.
"""

from __future__ import annotations

from embedspec.backends.contract import FEATURES
from embedspec.conformance.report.anchors import (
    expected_anchor,
    failure_anchor,
    skips_anchor,
    stopped_anchor,
)
from embedspec.conformance.report.changes import changes_markdown
from embedspec.conformance.report.describe import column_note, counts
from embedspec.conformance.report.markdown_details import (
    divergences_section,
    expected_section,
    failures_section,
    not_run_section,
    skips_section,
    stopped_section,
)
from embedspec.conformance.report.model import Cell, Report
from embedspec.conformance.report.performance_markdown import performance_markdown
from tabulate import tabulate

LEGEND = (
    "Each cell counts the tests of one feature on one backend: "
    "**N ✓** passed; **N ✗** failed; **N err** errored outside the test body; "
    "**N xfail** expected failure (listed in the backend's expectations file, with its reason); "
    "**N xpass** an expected failure that passed (the expectations file is out of date); "
    "**N unsup** not run because the backend does not declare that capability; "
    "**N skip** skipped for another reason; **crash** / **timeout** / **interrupted**: the "
    "run stopped (it crashed, outlived its time limit, or the report was interrupted), "
    "and the tests of this row that never finished are counted as \"not run\"; "
    "**·** no tests. A count that holds only some of the cell's dtypes names them "
    "in parentheses. Failure counts link to the failing tests and their repro snippets, "
    "unsupported and skipped counts to their reasons."
)


def cell_text(cell: Cell, backend: str, row: tuple[str, str]) -> str:
    links = {"failed": failure_anchor, "error": failure_anchor, "xpassed": failure_anchor,
             "xfailed": expected_anchor, "unsupported": skips_anchor, "skipped": skips_anchor}
    parts = [f"[{c.text}](#{links[c.outcome](backend, row)})" if c.outcome in links else c.text
             for c in counts(cell)]
    if cell.run_status != "ok":
        stopped = f"[**{cell.run_status}**](#{stopped_anchor(backend)})"
        parts.append(f"{stopped} ({cell.pending} not run)" if cell.pending else stopped)
    return ", ".join(parts) or "·"


def render_markdown(report: Report) -> str:
    sections = [
        "# embedspec compatibility report",
        _settings(report),
        "## Environment\n\n" + _environment(report),
        "## Backends\n\n" + _backends(report) + _column_notes(report),
        changes_markdown(report),
        "## Compatibility\n\n" + _table(report) + "\n\n" + LEGEND,
        "## Tolerance policy\n\n" + (report.tolerance or "(the tolerance policy is not "
                                     "available in this installation)"),
        divergences_section(report),
        performance_markdown(report.bench, report.bench_not_run),
        failures_section(report),
        expected_section(report),
        skips_section(report),
        stopped_section(report),
        not_run_section(report),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _settings(report: Report) -> str:
    return (f"Generated {report.generated} with profile **{report.profile}**, seed "
            f"**{report.seed}**, device **{report.device}**.")


def _environment(report: Report) -> str:
    m = report.machine
    rows = [[name, version] for name, version in report.versions.items()]
    rows += [[f"{c.backend} backend", c.version or "?"] for c in report.columns]
    rows.append(["machine", machine_text(m)])
    rows.append(["embedspec commit", report.git_commit or "(not a git checkout)"])
    return tabulate(rows, headers=["component", "version"], tablefmt="github")


def machine_text(m: dict) -> str:
    return (f"{m.get('platform', '?')}, {m.get('architecture', '?')}, {m.get('cpu_count', '?')} "
            "CPUs" + (f", {m['gpu']}" if m.get("gpu") else ""))


def _column_notes(report: Report) -> str:
    notes = [note for c in report.columns if (note := column_note(c, report.profile))]
    return "".join(f"\n\n{note}" for note in notes)


def _backends(report: Report) -> str:
    rows = []
    for c in report.columns:
        status = c.status if c.status == "ok" else f"[**{c.status}**](#{stopped_anchor(c.backend)})"
        n = c.counts
        rows.append([c.backend, c.version, status, n["passed"], n["failed"] + n["error"],
                     n["xfailed"], n["xpassed"], n["unsupported"], n["skipped"],
                     f"{c.duration_s:.1f} s", f"`{c.expectations}`" if c.expectations else "none"])
    return tabulate(rows, headers=["backend", "version", "run", "passed", "failed",
                                   "expected failures", "xpass", "unsupported", "skipped",
                                   "time", "expectations file"], tablefmt="github")


def _table(report: Report) -> str:
    rows = []
    for row in report.rows:
        cells = [cell_text(report.cell(row, c.backend), c.backend, row) for c in report.columns]
        if any(text != "·" for text in cells) or _in_features(row):
            rows.append([row[0], row[1], *cells])
    headers = ["family", "feature", *[c.backend for c in report.columns]]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _in_features(row: tuple[str, str]) -> bool:
    return row[1] in FEATURES.get(row[0], ())
