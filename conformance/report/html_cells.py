"""The drill-down of one matrix cell on the report page: its counts per dtype, its
failing tests (message, failing example, diagnostic notes, the repro snippet as a
shell command with a copy button, the traceback), its expected failures with their
reasons and divergence ids, the reasons of its skips, and how its run stopped.

Every text from a backend, a test or an exception goes through :func:`html.escape`."""

from __future__ import annotations

import itertools
from html import escape

from embedspec.conformance.report.anchors import cell_anchor, stopped_anchor
from embedspec.conformance.report.describe import (
    counts,
    dtype_lines,
    skip_reasons,
    traceback_tail,
)
from embedspec.conformance.report.model import Cell
from embedspec.conformance.report.verdicts import VERDICTS, divergence_ids, plural
from embedspec.conformance.session.failure_notes import failure_parts
from embedspec.conformance.session.results import TestResult

#: How a stopped run ended, in words.
STOPPED_WORDS = {"crash": "crashed", "timeout": "timed out", "interrupted": "was interrupted"}


class CellRenderer:
    """Renders the matrix's cells, numbering the repro snippets so each has its id."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def cell(self, cell: Cell, backend: str, row: tuple[str, str]) -> str:
        verdict = cell.verdict
        label = ", ".join(c.text for c in counts(cell))
        if cell.run_status != "ok":
            stopped = f"{cell.run_status}" + (f" ({cell.pending} not run)" if cell.pending else "")
            label = f"{label}, {stopped}" if label else stopped
        title = escape("; ".join([VERDICTS[verdict], *dtype_lines(cell)]), quote=True)
        anchor = cell_anchor(backend, row)
        if not label:
            return f'<td class="v-{verdict}" id="{anchor}" title="{title}">·</td>'
        return (f'<td class="v-{verdict}" id="{anchor}" title="{title}" data-verdict="{verdict}">'
                f"<details><summary>{escape(label)}</summary>"
                f'<div class="drill">{self._drill(cell, backend)}</div></details></td>')

    def _drill(self, cell: Cell, backend: str) -> str:
        parts = ["<p><b>Per dtype</b></p><ul>"
                 + "".join(f"<li>{escape(line)}</li>" for line in dtype_lines(cell)) + "</ul>"]
        if cell.failing:
            parts.append(f"<p><b>{plural(len(cell.failing), 'failing test')}</b></p>")
            parts += [self.failure(r) for r in cell.failing]
        if cell.expected:
            parts.append(f"<p><b>{plural(len(cell.expected), 'expected failure')}</b></p><ul>"
                         + "".join(_expected(r) for r in cell.expected) + "</ul>")
        reasons = skip_reasons(cell)
        if reasons:
            parts.append("<p><b>Not run here</b></p><ul>" + "".join(
                f"<li>{escape(plural(n, 'test'))}: {escape(reason)}</li>"
                for reason, n in reasons) + "</ul>")
        if cell.run_status != "ok":
            parts.append(f"<p>The run {STOPPED_WORDS.get(cell.run_status, 'stopped')}"
                         f" before {escape(plural(cell.pending, 'test'))} of this row finished: "
                         f'see <a href="#{stopped_anchor(backend)}">how it stopped</a>.</p>')
        return "".join(parts)

    def failure(self, result: TestResult) -> str:
        notes = failure_parts(result.notes)
        parts = [f'<div class="failure"><p><code>{escape(result.id)}</code> '
                 f"({escape(result.outcome)}, {escape(result.dtype)}): "
                 f"{escape(result.message)}</p>"]
        if notes.example:
            parts.append(f"<p>Failing example</p><pre>{escape(notes.example)}</pre>")
        for note in notes.other:
            parts.append(f"<pre>{escape(note)}</pre>")
        if notes.command:
            repro_id = f"repro-{next(self._ids)}"
            where = ("it puts the backend's folder on PYTHONPATH" if notes.pythonpath
                     else "where the backend is installed")
            parts.append(f"<p>Reproduce it: paste into a shell, {where} "
                         f'<button type="button" class="copy" data-copy="{repro_id}" hidden="">'
                         f'copy</button></p><pre class="repro" id="{repro_id}">'
                         f"{escape(notes.command)}</pre>")
        if result.failure:
            parts.append(f"<details><summary>traceback</summary><pre>"
                         f"{escape(traceback_tail(result))}</pre></details>")
        return "".join(parts) + "</div>"


def _expected(result: TestResult) -> str:
    ids = " ".join(f'<span class="div-id">{escape(d)}</span>'
                   for d in divergence_ids(result.message))
    return (f"<li><code>{escape(result.id)}</code>: {escape(result.message)}"
            + (f" (divergence {ids})" if ids else "") + "</li>")

