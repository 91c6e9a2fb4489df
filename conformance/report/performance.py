"""The page's performance section, from the parsed ``bench.json`` of each benchmarked
backend (:mod:`embedspec.conformance.report.performance_data` describes the shape):
per scenario, bars of its speedup against each baseline and of its roofline
fraction, its gate verdicts coloured, and per growth table the time against the
id (or row) count as a log-log chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from embedspec.conformance.report.performance_data import baselines, roofline, speedup
from embedspec.conformance.report.svg import Bar, bar_chart, line_chart

#: gate verdict -> CSS class
GATE_CLASSES = {"holds": "g-holds", "holds within noise": "g-within", "fails": "g-fails",
                "suspect": "g-fails", "rejected": "g-fails", "not run": "g-none",
                "not applicable": "g-none"}
GROWTH_AXES = {"ids": "ids per call", "rows": "table rows"}


def performance_section(runs: Sequence[Mapping[str, Any]]) -> str:
    """``<section id="performance">`` for the bench runs; "" when there are none."""
    if not runs:
        return ""
    blocks = [_run(run) for run in runs]
    return ('<section id="performance"><h2>Performance</h2>'
            "<p>Each benchmarked backend's scenarios (<code>embedspec bench</code>): "
            "speedup = a baseline's time over the backend's (higher is better, the dashed "
            "line is 1&times;); roofline = the time of copying the bytes the operation must "
            "move over the backend's. Every ratio uses the best of the interleaved rounds "
            "of one run.</p>" + "".join(blocks) + "</section>")


def _run(run: Mapping[str, Any]) -> str:
    backend = escape(str(run.get("backend", "?")))
    settings = (f"{escape(str(run.get('version', '')))} on <b>{escape(str(run.get('device')))}"
                f"</b>, {escape(str(run.get('clock')))} clock, "
                f"{escape(str(run.get('threads')))} threads, noise band "
                f"&plusmn;{float(run.get('band') or 0):.1%}")
    gates = {}
    for gate in run.get("gates", []):
        gates.setdefault(gate.get("scenario"), []).append(gate)
    scenarios = "".join(_scenario(s, gates.get(s.get("scenario"), []))
                        for s in run.get("scenarios", []))
    growth = "".join(_growth(t) for t in run.get("growth", []))
    unmatched = [g for g in run.get("gates", [])
                 if g.get("scenario") not in {s.get("scenario") for s in run.get("scenarios", [])}]
    extra = ""
    if unmatched:
        extra = "<p>Gates matching no timed scenario: " + _badges(unmatched) + "</p>"
    return (f'<div class="bench"><h3>{backend}</h3><p>{settings}</p>'
            f'<div class="scenarios">{scenarios}</div>{extra}{growth}</div>')


def _scenario(scenario: Mapping[str, Any], gates: Sequence[Mapping[str, Any]]) -> str:
    name = escape(str(scenario.get("scenario", "?")))
    status = str(scenario.get("status", "?"))
    head = f'<h4>{name}{" (re-run)" if scenario.get("rerun") else ""}</h4>'
    if status != "ok":
        css = "v-unsupported" if status == "skipped" else "v-failing"
        return (f'<div class="scenario">{head}<p class="{css}">{escape(status)}: '
                f'{escape(str(scenario.get("reason", "")))}</p>{_badges(gates)}</div>')
    speedups = [Bar(f"vs {b}", value, "bar-speedup", _ratio(value))
                for b in baselines(scenario) for value in [speedup(scenario, b)]]
    fraction = roofline(scenario)
    top = max([b.value for b in speedups if b.value is not None] + [1.0])
    charts = bar_chart(speedups, title=f"{scenario.get('scenario')}: speedups",
                       scale_max=top * 1.1, mark=1.0) if speedups else ""
    charts += bar_chart([Bar("roofline", fraction, "bar-roofline",
                             "—" if fraction is None else f"{fraction:.0%}")],
                        title=f"{scenario.get('scenario')}: roofline fraction",
                        scale_max=max(1.0, fraction or 0.0), mark=1.0)
    return f'<div class="scenario">{head}{charts}{_badges(gates)}</div>'


def _badges(gates: Sequence[Mapping[str, Any]]) -> str:
    badges = []
    for gate in gates:
        verdict = str(gate.get("verdict", "?"))
        value = gate.get("rerun_value") if gate.get("rerun_value") is not None else \
            gate.get("value")
        shown = "—" if value is None else f"{float(value):.2f}"
        title = escape(str(gate.get("reason", "")), quote=True)
        badges.append(f'<span class="gate {GATE_CLASSES.get(verdict, "g-none")}" '
                      f'title="{title}">{escape(verdict)}: {escape(str(gate.get("gate")))} '
                      f"({escape(shown)})</span>")
    return f'<div class="gates">{"".join(badges)}</div>' if badges else ""


def _growth(table: Mapping[str, Any]) -> str:
    axis = GROWTH_AXES.get(str(table.get("axis")), str(table.get("axis")))
    series: dict[str, list[tuple[float, float | None]]] = {}
    for point in table.get("points", []):
        for name, seconds in point.get("times", {}).items():
            series.setdefault(name, []).append(
                (float(point["x"]), None if seconds is None else float(seconds)))
    slopes = ", ".join(f"{escape(str(n))} {'—' if s is None else f'{s:.2f}'}"
                       for n, s in table.get("slopes", {}).items())
    legend = " ".join(f'<span class="key series-{i}">{escape(str(name))}</span>'
                      for i, name in enumerate(series))
    chart = line_chart(series, title=f"forward time against {axis}", x_label=axis,
                       y_label="seconds per call")
    return (f'<figure class="growth">{chart}<figcaption>Forward time against {escape(axis)} '
            f"({escape(str(table.get('fixed', '')))}), log-log. {legend} Fitted slopes: "
            f"{slopes}.</figcaption></figure>")


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"
