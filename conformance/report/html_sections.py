"""The page's sections below the matrix: the documented divergences with their own
witnesses, the crashes, timeouts and interrupted runs, and the backends not run with
the stale expectations. Every string from a backend or a test is escaped."""

from __future__ import annotations

from html import escape

from embedspec.conformance.report.anchors import cell_anchor, stopped_anchor
from embedspec.conformance.report.describe import divergence_shown, divergence_where, witnesses
from embedspec.conformance.report.model import DivergenceCheck, Report
from embedspec.conformance.report.verdicts import plural


def divergences_section(report: Report) -> str:
    if not report.divergences:
        return ""
    blocks = []
    for backend, unexplained in report.undocumented.items():
        rows = "".join(_divergence_row(report, c) for c in report.divergences
                       if c.backend == backend)
        if unexplained:
            items = "".join(
                f'<li><a href="#{cell_anchor(backend, (r.family or "", r.feature or ""))}">'
                f"<code>{escape(r.id)}</code></a>: {escape(r.message)}</li>"
                for r in unexplained)
            tail = (f"<p>Failures that no documented divergence explains "
                    f"({escape(plural(len(unexplained), 'test'))}):</p><ul>{items}</ul>")
        else:
            tail = "<p>Every failure is explained by a documented divergence.</p>"
        blocks.append(
            f"<h3>{escape(backend)}</h3><table><thead><tr><th>divergence</th><th>rule</th>"
            "<th>rows</th><th>shown</th><th>its own witnesses</th><th>what</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{tail}")
    return ('<section id="divergences"><h2>Documented divergences</h2><p>Departures of a '
            "backend from the spec that its documentation lists, checked against its "
            "failures. A divergence's own witnesses are the expected failures whose reason "
            "names it; a witness shared with other divergences would not change if only this "
            "one were fixed.</p>" + "".join(blocks) + "</section>")


def _divergence_row(report: Report, check: DivergenceCheck) -> str:
    where, shown = divergence_where(check), divergence_shown(check)
    items = []
    for test, others in witnesses(report, check):
        shared = f" (shared with {escape(', '.join(others))})" if others else ""
        items.append(f"<li><code>{escape(test)}</code>{shared}</li>")
    named = f"<ul>{''.join(items)}</ul>" if items else "none"
    return (f'<tr id="div-{escape(check.id, quote=True)}"><td class="div-id">{escape(check.id)}'
            f"</td><td>{escape(check.rule)}</td><td>{escape(where)}</td>"
            f'<td class="{"v-expected" if check.shown else "v-not_run"}">{escape(shown)}</td>'
            f"<td>{named}</td><td>{escape(check.description)}</td></tr>")


def stopped_section(report: Report) -> str:
    blocks = []
    for column in report.columns:
        if column.status == "ok":
            continue
        parts = [f'<h3 id="{stopped_anchor(column.backend)}">{escape(column.backend)}: '
                 f"{escape(column.status)}</h3><p>{escape(column.message)}</p>"]
        if column.running:
            parts.append(f"<p>The test running when it stopped: <code>{escape(column.running)}"
                         "</code>.</p>")
        if column.output_tail:
            parts.append(f"<details><summary>end of output</summary><pre>"
                         f"{escape(column.output_tail)}</pre></details>")
        blocks.append("".join(parts))
    if not blocks:
        return ""
    return ('<section id="stopped"><h2>Crashes, timeouts and interruptions</h2>'
            + "".join(blocks) + "</section>")


def not_run_section(report: Report) -> str:
    parts = []
    if report.not_run:
        parts.append("<h3>Backends not run</h3><ul>" + "".join(
            f"<li>{escape(name)}: {escape(reason)}</li>" for name, reason in report.not_run)
            + "</ul>")
    stale = [(c.backend, t) for c in report.columns for t in c.stale_expectations]
    if stale:
        parts.append("<h3>Stale expectations</h3><ul>" + "".join(
            f"<li>{escape(b)}: <code>{escape(t)}</code> (no such test)</li>" for b, t in stale)
            + "</ul>")
    if not parts:
        return ""
    return '<section id="not-run"><h2>Not run</h2>' + "".join(parts) + "</section>"
