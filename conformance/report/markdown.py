"""Rendering a :class:`~embedspec.conformance.report.model.Report` as Markdown.

The document holds, in order: the run's settings, the environment (versions and
machine), one line per backend, the compatibility table (family x feature by
backend) with its legend, the tolerance policy, then the details the table links
to: failures with their repro snippets, expected failures with their reasons,
crashes and timeouts with the end of the run's output, and backends not run.
"""

from __future__ import annotations

import re

from embedspec.backends.contract import FEATURES
from embedspec.conformance.report.model import Cell, Report
from tabulate import tabulate

LEGEND = (
    "Each cell counts the tests of one feature on one backend: "
    "**N ✓** passed; **N ✗** failed; **N err** errored outside the test body; "
    "**N xfail** expected failure (listed in the backend's expectations file, with its reason); "
    "**N xpass** an expected failure that passed (the expectations file is out of date); "
    "**N unsup** not run because the backend does not declare that capability; "
    "**N skip** skipped for another reason; **crash** / **timeout**: the run stopped, "
    "and the tests of this row that never finished are counted as \"not run\"; "
    "**·** no tests. Failure counts link to the failing tests and their repro snippets."
)
MAX_FAILURE_LINES = 60


def anchor(*parts: str) -> str:
    """A link target made of ``parts``: lower case letters, digits, ``_`` and ``-``."""
    return re.sub(r"[^a-z0-9_]+", "-", "-".join(parts).lower()).strip("-")


def failure_anchor(backend: str, row: tuple[str, str]) -> str:
    return anchor("fail", backend, *row)


def expected_anchor(backend: str, row: tuple[str, str]) -> str:
    return anchor("xfail", backend, *row)


def stopped_anchor(backend: str) -> str:
    return anchor("stopped", backend)


def cell_text(cell: Cell, backend: str, row: tuple[str, str]) -> str:
    c = cell.counts
    fail_link = f"#{failure_anchor(backend, row)}"
    parts = []
    if c["passed"]:
        parts.append(f"{c['passed']} ✓")
    if c["failed"]:
        parts.append(f"[{c['failed']} ✗]({fail_link})")
    if c["error"]:
        parts.append(f"[{c['error']} err]({fail_link})")
    if c["xpassed"]:
        parts.append(f"[{c['xpassed']} xpass]({fail_link})")
    if c["xfailed"]:
        parts.append(f"[{c['xfailed']} xfail](#{expected_anchor(backend, row)})")
    if c["unsupported"]:
        parts.append(f"{c['unsupported']} unsup")
    if c["skipped"]:
        parts.append(f"{c['skipped']} skip")
    if cell.status != "ok":
        stopped = f"[**{cell.status}**](#{stopped_anchor(backend)})"
        parts.append(f"{stopped} ({cell.pending} not run)" if cell.pending else stopped)
    return ", ".join(parts) or "·"


def render_markdown(report: Report) -> str:
    sections = [
        "# embedspec compatibility report",
        _settings(report),
        "## Environment\n\n" + _environment(report),
        "## Backends\n\n" + _backends(report),
        "## Compatibility\n\n" + _table(report) + "\n\n" + LEGEND,
        "## Tolerance policy\n\n" + (report.tolerance or "(embedspec.conformance.tolerance is "
                                     "not available in this installation)"),
        _divergences(report),
        _performance(report),
        _failures(report),
        _expected(report),
        _stopped(report),
        _not_run(report),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _settings(report: Report) -> str:
    return (f"Generated {report.generated} with profile **{report.profile}**, seed "
            f"**{report.seed}**, device **{report.device}**.")


def _environment(report: Report) -> str:
    m = report.machine
    rows = [[name, version] for name, version in report.versions.items()]
    rows += [[f"{c.backend} backend", c.version or "?"] for c in report.columns]
    rows.append(["machine", f"{m.get('platform', '?')}, {m.get('architecture', '?')}, "
                            f"{m.get('cpu_count', '?')} CPUs"
                            + (f", {m['gpu']}" if m.get("gpu") else "")])
    return tabulate(rows, headers=["component", "version"], tablefmt="github")


def _backends(report: Report) -> str:
    rows = []
    for c in report.columns:
        status = c.status if c.status == "ok" else f"[**{c.status}**](#{stopped_anchor(c.backend)})"
        n = c.counts
        rows.append([c.backend, c.version, status, n["passed"], n["failed"] + n["error"],
                     n["xfailed"], n["xpassed"], n["unsupported"], n["skipped"],
                     f"{c.duration_s:.1f} s"])
    return tabulate(rows, headers=["backend", "version", "run", "passed", "failed",
                                   "expected failures", "xpass", "unsupported", "skipped",
                                   "time"], tablefmt="github")


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


def _divergences(report: Report) -> str:
    """Per backend with documented divergences: which ones the run shows, and the
    failures none of them explains."""
    blocks = []
    for backend, unexplained in report.undocumented.items():
        rows = []
        for check in (c for c in report.divergences if c.backend == backend):
            where = ", ".join(f"{family} / {feature}" for family, feature in check.rows)
            if check.dtypes:
                where += f" ({', '.join(check.dtypes)})"
            shown = f"yes: {len(check.failing)} failing tests in its rows" if check.shown else "no"
            rows.append([check.id, check.rule, where, shown, check.description])
        lines = [f"### {backend}", "",
                 tabulate(rows, headers=["divergence", "rule", "rows", "shown", "what"],
                          tablefmt="github"), ""]
        if unexplained:
            lines.append(f"Failures that no documented divergence explains "
                         f"({len(unexplained)}):")
            lines.append("")
            for result in unexplained:
                link = failure_anchor(backend, (result.family or "", result.feature or ""))
                lines.append(f"- [`{result.id}`](#{link}): {result.message}")
        else:
            lines.append("Every failure is explained by a documented divergence.")
        blocks.append("\n".join(lines))
    if not blocks:
        return ""
    return ("## Documented divergences\n\nDepartures of a backend from the spec that its "
            "documentation lists, checked against its failures.\n\n" + "\n\n".join(blocks))


def _performance(report: Report) -> str:
    if not report.performance:
        return ""
    from embedspec.conformance.bench.report_section import render_section

    return render_section(report.performance)


def _failures(report: Report) -> str:
    blocks = []
    for column in report.columns:
        for row in report.rows:
            cell = report.cell(row, column.backend)
            if not cell.failing:
                continue
            lines = [f'<a id="{failure_anchor(column.backend, row)}"></a>',
                     f"### {column.backend}: {row[0]} / {row[1]}", ""]
            for result in cell.failing:
                lines.append(f"- `{result.id}` ({result.outcome}): {result.message}")
                if result.notes:
                    lines.append("")
                    lines.append(_indent(_fenced("\n\n".join(result.notes), "python")))
                if result.failure:
                    lines.append("")
                    traceback = _tail(_without_notes(result.failure, result.notes))
                    lines.append(_indent(_details("traceback", traceback)))
            blocks.append("\n".join(lines))
    return "## Failures\n\n" + "\n\n".join(blocks) if blocks else ""


def _expected(report: Report) -> str:
    blocks = []
    for column in report.columns:
        for row in report.rows:
            cell = report.cell(row, column.backend)
            if not cell.expected:
                continue
            lines = [f'<a id="{expected_anchor(column.backend, row)}"></a>',
                     f"### {column.backend}: {row[0]} / {row[1]}", ""]
            lines += [f"- `{r.id}`: {r.message}" for r in cell.expected]
            blocks.append("\n".join(lines))
    return "## Expected failures\n\n" + "\n\n".join(blocks) if blocks else ""


def _stopped(report: Report) -> str:
    blocks = []
    for column in report.columns:
        if column.status == "ok":
            continue
        lines = [f'<a id="{stopped_anchor(column.backend)}"></a>',
                 f"### {column.backend}: {column.status}", "", column.message]
        if column.running:
            lines += ["", f"The test running when it stopped: `{column.running}`."]
        if column.output_tail:
            lines += ["", _details("end of output", column.output_tail)]
        blocks.append("\n".join(lines))
    return "## Crashes and timeouts\n\n" + "\n\n".join(blocks) if blocks else ""


def _not_run(report: Report) -> str:
    stale = [(c, t) for c in report.columns for t in c.stale_expectations]
    lines = []
    if report.not_run:
        lines.append("## Backends not run\n")
        lines += [f"- {name}: {reason}" for name, reason in report.not_run]
    if stale:
        if lines:
            lines.append("")
        lines.append("## Stale expectations\n")
        lines += [f"- {c.backend}: `{test}` (no such test)" for c, test in stale]
    return "\n".join(lines)


def _fenced(text: str, language: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def _details(summary: str, text: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{_fenced(text)}\n\n</details>"


def _without_notes(failure: str, notes: list[str]) -> str:
    """The failure text up to where the exception's notes (shown above it) begin."""
    lines = failure.splitlines()
    first = notes[0].strip().splitlines()[0] if notes and notes[0].strip() else None
    if first is None:
        return failure
    for i, line in enumerate(lines):
        if line.startswith("E") and line.rstrip().endswith(first):
            return "\n".join(lines[:i])
    return failure


def _tail(text: str) -> str:
    lines = text.rstrip().splitlines()
    if len(lines) <= MAX_FAILURE_LINES:
        return "\n".join(lines)
    return "\n".join([f"... ({len(lines) - MAX_FAILURE_LINES} lines cut)",
                      *lines[-MAX_FAILURE_LINES:]])


def _indent(text: str) -> str:
    return "\n".join(("  " + line) if line else line for line in text.splitlines())
