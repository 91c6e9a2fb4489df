"""The sections of the Markdown report below the table: documented divergences with
their own witnesses, failures with their repro snippets and tracebacks, expected
failures, the reasons of skipped and unsupported tests, crashes, timeouts and
interrupted runs, and the backends not run with the stale expectations."""

from __future__ import annotations

import re
from collections.abc import Callable

from embedspec.conformance.report.anchors import (
    expected_anchor,
    failure_anchor,
    skips_anchor,
    stopped_anchor,
)
from embedspec.conformance.report.describe import (
    divergence_shown,
    divergence_where,
    skip_reasons,
    traceback_tail,
    witnesses,
)
from embedspec.conformance.report.model import Cell, DivergenceCheck, Report
from embedspec.conformance.report.verdicts import plural
from embedspec.conformance.session.failure_notes import FailureParts, failure_parts
from tabulate import tabulate

STOPPED_HEADING = "## Crashes, timeouts and interruptions"


def divergences_section(report: Report) -> str:
    """Per backend with documented divergences: which ones the run shows, and the
    failures none of them explains."""
    blocks = []
    for backend, unexplained in report.undocumented.items():
        rows = []
        for check in (c for c in report.divergences if c.backend == backend):
            rows.append([check.id, check.rule, divergence_where(check), divergence_shown(check),
                         _witnesses(report, check),
                         check.description])
        lines = [f"### {backend}", "",
                 tabulate(rows, headers=["divergence", "rule", "rows", "shown",
                                         "its own witnesses", "what"],
                          tablefmt="github"), ""]
        if unexplained:
            lines.append(f"Failures that no documented divergence explains "
                         f"({plural(len(unexplained), 'test')}):")
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
            "documentation lists, checked against its failures. A divergence's own witnesses "
            "are the expected failures whose reason names it; a witness that also names other "
            "divergences says so, since fixing one of them would not change it.\n\n"
            + "\n\n".join(blocks))


def _witnesses(report: Report, check: DivergenceCheck) -> str:
    return "; ".join(f"`{test}`" + (f" (shared with {', '.join(others)})" if others else "")
                     for test, others in witnesses(report, check)) or "none"


def _cell_blocks(report: Report, anchor_of: Callable[[str, tuple[str, str]], str],
                 lines_of: Callable[[Cell], list[str]]) -> list[str]:
    """One block per cell that ``lines_of`` has lines for: its anchor, a heading naming
    the backend and the row, then the lines."""
    blocks = []
    for column in report.columns:
        for row in report.rows:
            lines = lines_of(report.cell(row, column.backend))
            if lines:
                blocks.append("\n".join([f'<a id="{anchor_of(column.backend, row)}"></a>',
                                         f"### {column.backend}: {row[0]} / {row[1]}", "",
                                         *lines]))
    return blocks


def _failure_lines(cell: Cell) -> list[str]:
    lines = []
    for result in cell.failing:
        lines.append(f"- `{result.id}` ({result.outcome}): {result.message}")
        lines += [_indent(line) for line in _notes_lines(failure_parts(result.notes))]
        if result.failure:
            lines.append("")
            lines.append(_indent(_details("traceback", traceback_tail(result))))
    return lines


def _notes_lines(parts: FailureParts) -> list[str]:
    """A failure's notes: the one-line ones as a list, the failing example and longer
    notes as text blocks, and the repro snippet alone in the ``python`` block, so that
    block pastes and runs as is."""
    lines = []
    short = [note for note in parts.other if "\n" not in note]
    if short:
        lines += ["", *(f"- {note}" for note in short)]
    for note in parts.other:
        if "\n" in note:
            lines += ["", _fenced(note, "text")]
    if parts.example:
        lines += ["", "Failing example:", "", _fenced(parts.example, "text")]
    if parts.repro:
        where = (f" (with `PYTHONPATH={parts.pythonpath}`)" if parts.pythonpath else "")
        lines += ["", f"Reproduce with{where}:", "", _fenced(parts.repro, "python")]
    return lines


def failures_section(report: Report) -> str:
    blocks = _cell_blocks(report, failure_anchor, _failure_lines)
    return "## Failures\n\n" + "\n\n".join(blocks) if blocks else ""


def expected_section(report: Report) -> str:
    blocks = _cell_blocks(report, expected_anchor,
                          lambda cell: [f"- `{r.id}`: {r.message}" for r in cell.expected])
    return "## Expected failures\n\n" + "\n\n".join(blocks) if blocks else ""


def skips_section(report: Report) -> str:
    blocks = _cell_blocks(report, skips_anchor, lambda cell: [
        f"- {plural(n, 'test')}: {reason}" for reason, n in skip_reasons(cell)])
    if not blocks:
        return ""
    return ("## Skipped and unsupported tests\n\nWhy each test that did not run was left "
            "out: *unsupported* tests check a capability the backend does not declare; "
            "*skipped* ones cannot run in this run's worlds.\n\n" + "\n\n".join(blocks))


def stopped_section(report: Report) -> str:
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
    return STOPPED_HEADING + "\n\n" + "\n\n".join(blocks) if blocks else ""


def not_run_section(report: Report) -> str:
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


def _indent(text: str) -> str:
    return "\n".join(("  " + line) if line else line for line in text.splitlines())
