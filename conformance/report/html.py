"""The compatibility report as one self-contained static page (``report.html``).

The page holds, in order: the header (settings, versions, machine, git commit, the
tolerance policy, one row per backend with its time and expectations file), what
changed since the previous run with a trend per backend, the legend, the matrix
(family x feature rows, backend columns, each cell coloured by its verdict and
opening to its per-dtype counts, failing tests with their repro, expected failures
and skip reasons), the documented divergences with their witnesses, the crashes and
timeouts, the performance section when the run was benchmarked, and the backends
not run. Style and script are inline; without the script everything still opens
(``<details>``) and only the copy buttons stay hidden. Every string from a backend,
a test or an exception is escaped.
"""

from __future__ import annotations

from html import escape

from embedspec.backends.contract import FEATURES
from embedspec.conformance.report.anchors import stopped_anchor
from embedspec.conformance.report.changes import changes_html
from embedspec.conformance.report.describe import column_note
from embedspec.conformance.report.html_cells import CellRenderer
from embedspec.conformance.report.html_sections import (
    divergences_section,
    not_run_section,
    stopped_section,
)
from embedspec.conformance.report.markdown import machine_text
from embedspec.conformance.report.model import Report
from embedspec.conformance.report.page_style import CSS, SCRIPT
from embedspec.conformance.report.performance import performance_section
from embedspec.conformance.report.verdicts import VERDICT_MEANINGS, VERDICTS

TITLE = "embedspec compatibility report"


def render_html(report: Report) -> str:
    """The whole page."""
    body = [
        f"<h1>{TITLE}</h1>",
        _nav(report),
        _header(report),
        changes_html(report),
        _matrix(report),
        divergences_section(report),
        stopped_section(report),
        performance_section(report.bench),
        not_run_section(report),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{TITLE}</title><style>{CSS}</style></head><body>"
            + "".join(part for part in body if part)
            + f"<script>{SCRIPT}</script></body></html>\n")


def _nav(report: Report) -> str:
    links = [("header", "Run"), ("changes", "Changes"), ("matrix", "Matrix"),
             ("divergences", "Divergences"), ("stopped", "Crashes, timeouts and interruptions"),
             ("performance", "Performance"), ("not-run", "Not run")]
    present = {"header", "matrix", "changes" if report.history is not None else "",
               "divergences" if report.divergences else "",
               "stopped" if any(c.status != "ok" for c in report.columns) else "",
               "performance" if report.bench else "",
               "not-run" if report.not_run or any(c.stale_expectations for c in report.columns)
               else ""}
    return "<nav>" + "".join(f'<a href="#{i}">{t}</a>' for i, t in links if i in present) + \
        "</nav>"


def _meta_row(name: str, value: str) -> str:
    return f"<tr><th>{escape(name)}</th><td>{value}</td></tr>"


def _header(report: Report) -> str:
    rows = [
        _meta_row("generated", escape(report.generated)),
        _meta_row("profile", f"<b>{escape(report.profile)}</b>"),
        _meta_row("seed", f"<b>{escape(str(report.seed))}</b>"),
        _meta_row("device", f"<b>{escape(report.device)}</b>"),
        _meta_row("embedspec commit", f"<code>{escape(report.git_commit)}</code>"
                  if report.git_commit else "(not a git checkout)"),
        *(_meta_row(name, escape(str(version))) for name, version in report.versions.items()),
        _meta_row("machine", escape(machine_text(report.machine))),
        _meta_row("tolerance policy", "<details><summary>how outputs are compared</summary>"
                  f"<pre>{escape(report.tolerance or 'not available in this installation')}"
                  "</pre></details>"),
    ]
    return (f'<section id="header"><table class="meta">{"".join(rows)}</table>'
            f"<h2>Backends</h2>{_backends(report)}</section>")


def _backends(report: Report) -> str:
    head = ("<tr><th>backend</th><th>version</th><th>what it is</th><th>run</th>"
            "<th>passed</th><th>failing</th><th>expected failures</th><th>unsupported</th>"
            "<th>skipped</th><th>time</th><th>expectations file</th></tr>")
    rows = []
    for c in report.columns:
        n = c.counts
        run = escape(c.status) if c.status == "ok" else \
            f'<a class="v-stopped" href="#{stopped_anchor(c.backend)}">{escape(c.status)}</a>'
        rows.append(
            f"<tr><th>{escape(c.backend)}</th><td>{escape(c.version)}</td>"
            f"<td>{escape(c.description)}</td><td>{run}</td><td>{n['passed']}</td>"
            f"<td>{n['failed'] + n['error'] + n['xpassed']}</td><td>{n['xfailed']}</td>"
            f"<td>{n['unsupported']}</td><td>{n['skipped']}</td><td>{c.duration_s:.1f} s</td>"
            f"<td>{_code_or(c.expectations, 'none')}</td></tr>")
    notes = "".join(f"<p>{escape(note)}</p>" for c in report.columns
                    if (note := column_note(c, report.profile)))
    return f"<table class=\"backends\"><thead>{head}</thead><tbody>{''.join(rows)}</tbody>" \
           f"</table>{notes}"


def _legend() -> str:
    keys = "".join(f'<span class="v-{v}" title="{escape(VERDICT_MEANINGS[v], quote=True)}">'
                   f"{escape(label)}</span>" for v, label in VERDICTS.items())
    meanings = "".join(f"<li><b>{escape(VERDICTS[v])}</b>: {escape(m)}</li>"
                       for v, m in VERDICT_MEANINGS.items())
    return (f'<div class="legend"><p>{keys}</p><details><summary>what the colours and counts '
            "mean</summary><ul>" + meanings + "</ul><p>A cell counts one backend's tests of "
            "one feature: ✓ passed, ✗ failed, err errored outside the test body, xfail "
            "expected failure, xpass an expected failure that passed, unsup unsupported, skip "
            "skipped; a count that holds only some of the cell's dtypes names them. Open a "
            "cell for its counts per dtype, its failing tests with their repro, the reasons of its "
            "expected failures and skips.</p></details></div>")


def _matrix(report: Report) -> str:
    renderer = CellRenderer()
    head = ('<tr><th class="family">family</th><th class="feature">feature</th>'
            + "".join(f'<th scope="col">{escape(c.backend)}</th>' for c in report.columns)
            + "</tr>")
    rows = []
    for row in report.rows:
        cells = [report.cell(row, c.backend) for c in report.columns]
        if not any(sum(cell.counts.values()) or cell.run_status != "ok" for cell in cells) \
                and row[1] not in FEATURES.get(row[0], ()):
            continue
        rows.append(f'<tr><th class="family">{escape(row[0])}</th>'
                    f'<th class="feature">{escape(row[1])}</th>'
                    + "".join(renderer.cell(cell, c.backend, row)
                              for cell, c in zip(cells, report.columns, strict=True))
                    + "</tr>")
    return (f'<section id="matrix"><h2>Compatibility</h2>{_legend()}<div class="matrix-wrap">'
            f'<table class="matrix"><thead>{head}</thead><tbody>{"".join(rows)}</tbody>'
            "</table></div></section>")


def _code_or(text: str | None, default: str) -> str:
    return f"<code>{escape(text)}</code>" if text else escape(default)
