""""Changed since the previous run" and the per-backend trend, for the Markdown and the
page, from the :class:`~embedspec.conformance.report.history.History` of a report.
When nothing changed the section says so."""

from __future__ import annotations

from html import escape

from embedspec.conformance.report.history import HISTORY_FILE, History
from embedspec.conformance.report.model import Report
from embedspec.conformance.report.svg import sparkline
from embedspec.conformance.report.verdicts import UNEXPECTED, VERDICTS


def change_lines(history: History) -> list[str]:
    """One plain sentence per change (an empty list: nothing changed)."""
    lines = [f"backend {b} is new in this run" for b in history.added]
    lines += [f"backend {b} was in the previous run and is not in this one"
              for b in history.removed]
    lines += [f"{c.backend}: {c.family} / {c.feature}: {VERDICTS.get(c.before, c.before)} → "
              f"{VERDICTS.get(c.after, c.after)}" for c in history.verdicts]
    lines += [f"{r.backend}: {r.scenario}: {_metric(r.metric)} {r.before:.2f} → {r.after:.2f} "
              f"({r.after / r.before - 1:+.0%}, noise band ±{r.band:.0%})"
              for r in history.ratios]
    return lines


def summary(history: History) -> str:
    if history.previous is None:
        return (f"This is the first run recorded in {HISTORY_FILE}: there is no previous run "
                "to compare with.")
    when = history.previous.get("generated", "?")
    if not history.changed:
        return (f"Nothing changed since the previous run ({when}): every cell has the verdict "
                "it had, and no ratio moved beyond the noise band.")
    return f"Since the previous run ({when}):"


def trend_points(counts: list[dict[str, int]]) -> dict[str, list[float]]:
    """The trend's two lines: tests passed and tests failing unexpectedly, per run."""
    return {"passed": [float(c.get("passed", 0)) for c in counts],
            "failing": [float(sum(c.get(o, 0) for o in UNEXPECTED)) for c in counts]}


def _trend_text(counts: list[dict[str, int]]) -> str:
    points = trend_points(counts)
    return (f"passed {' → '.join(str(int(v)) for v in points['passed'][-5:])}; "
            f"failing {' → '.join(str(int(v)) for v in points['failing'][-5:])} "
            f"(last {min(5, len(counts))} of {len(counts)} runs)")


def changes_markdown(report: Report) -> str:
    history = report.history
    if history is None:
        return ""
    lines = ["## Changed since the previous run", "", summary(history)]
    changes = change_lines(history)
    if changes:
        lines += [""] + [f"- {line}" for line in changes]
    lines += [f"- note: {u}" for u in history.unreadable]
    if history.trend:
        lines += ["", "Trend per backend:", ""]
        lines += [f"- {b}: {_trend_text([c for _, c in entries])}"
                  for b, entries in history.trend.items()]
    return "\n".join(lines)


def changes_html(report: Report) -> str:
    history = report.history
    if history is None:
        return ""
    parts = ['<section id="changes"><h2>Changed since the previous run</h2>',
             f"<p>{escape(summary(history))}</p>"]
    changes = change_lines(history)
    if changes:
        parts.append('<ul class="changed">' + "".join(f"<li>{escape(c)}</li>" for c in changes)
                     + "</ul>")
    parts += [f"<p>Note: {escape(u)}</p>" for u in history.unreadable]
    if history.trend:
        rows = []
        for backend, entries in history.trend.items():
            counts = [c for _, c in entries]
            chart = sparkline(trend_points(counts), title=f"{backend}: passed and failing tests "
                                                          "per run")
            rows.append(f"<tr><th>{escape(backend)}</th><td>{chart}</td>"
                        f"<td>{escape(_trend_text(counts))}</td></tr>")
        parts.append('<table class="trend"><thead><tr><th>backend</th><th>trend (green: '
                     'passed, red: failing)</th><th>recent runs</th></tr></thead><tbody>'
                     + "".join(rows) + "</tbody></table>")
    return "".join(parts) + "</section>"


def _metric(metric: str) -> str:
    return "roofline fraction" if metric == "roofline" else f"speedup vs {metric}"
