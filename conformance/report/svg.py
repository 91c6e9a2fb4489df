"""Small inline SVG charts for the report page: horizontal bars, a log-log line chart
and a sparkline.

The project draws them itself rather than through a plotting library: the page must
open without network access and stay one self-contained file, the charts are three
simple shapes, and a plotting dependency (matplotlib, plotly, ...) would be heavier
than the rest of the report together and make its output depend on that library's
version. Every text is escaped; colours come from CSS classes of the page's style.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

BAR_HEIGHT = 14
BAR_GAP = 4
LABEL_WIDTH = 130
BAR_WIDTH = 220


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    css_class: str
    text: str  # the value as printed beside the bar


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">'
            f"<title>{escape(title)}</title>{''.join(body)}</svg>")


def bar_chart(bars: Sequence[Bar], *, title: str, scale_max: float,
              mark: float | None = None) -> str:
    """Horizontal bars, 0 to ``scale_max`` (longer values are cut at the edge), with a
    dashed line at ``mark`` (e.g. 1.0 for "as fast as the baseline")."""
    scale_max = max(scale_max, mark or 0.0, 1e-12)
    height = len(bars) * (BAR_HEIGHT + BAR_GAP) + BAR_GAP
    width = LABEL_WIDTH + BAR_WIDTH + 70
    body = []
    for i, bar in enumerate(bars):
        y = BAR_GAP + i * (BAR_HEIGHT + BAR_GAP)
        body.append(f'<text class="label" x="{LABEL_WIDTH - 4}" y="{y + BAR_HEIGHT - 3}" '
                    f'text-anchor="end">{escape(bar.label)}</text>')
        if bar.value is not None:
            length = BAR_WIDTH * min(max(bar.value, 0.0), scale_max) / scale_max
            body.append(f'<rect class="{escape(bar.css_class)}" x="{LABEL_WIDTH}" y="{y}" '
                        f'width="{length:.1f}" height="{BAR_HEIGHT}"/>')
            x_text = LABEL_WIDTH + length + 4
        else:
            x_text = LABEL_WIDTH + 4
        body.append(f'<text class="value" x="{x_text:.1f}" y="{y + BAR_HEIGHT - 3}">'
                    f"{escape(bar.text)}</text>")
    if mark is not None:
        x = LABEL_WIDTH + BAR_WIDTH * mark / scale_max
        body.append(f'<line class="mark" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}"/>')
    return _svg(width, height, title, body)


def line_chart(series: Mapping[str, Sequence[tuple[float, float | None]]], *, title: str,
               x_label: str, y_label: str, width: int = 360, height: int = 200) -> str:
    """Lines of (x, y) points on log-log axes, one CSS class ``series-<i>`` per series
    (points without a y are left out), with the decades of both axes marked."""
    points = {name: [(x, y) for x, y in pts if y is not None and y > 0 and x > 0]
              for name, pts in series.items()}
    xs = [x for pts in points.values() for x, _ in pts]
    ys = [y for pts in points.values() for _, y in pts]
    left, right, top, bottom = 52, 10, 10, 34
    body = []
    if not xs:
        body.append(f'<text class="label" x="{width / 2}" y="{height / 2}" '
                    f'text-anchor="middle">no timed points</text>')
        return _svg(width, height, title, body)
    lx = (math.log10(min(xs)), math.log10(max(xs)) + 1e-9)
    ly = (math.log10(min(ys)), math.log10(max(ys)) + 1e-9)
    plot_w, plot_h = width - left - right, height - top - bottom

    def at(x: float, y: float) -> tuple[float, float]:
        fx = (math.log10(x) - lx[0]) / (lx[1] - lx[0]) if lx[1] > lx[0] else 0.5
        fy = (math.log10(y) - ly[0]) / (ly[1] - ly[0]) if ly[1] > ly[0] else 0.5
        return left + fx * plot_w, top + (1 - fy) * plot_h

    body.append(f'<rect class="frame" x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/>')
    for decade in range(math.ceil(lx[0]), math.floor(lx[1]) + 1):
        x, _ = at(10.0 ** decade, 10.0 ** ly[0])
        body.append(f'<text class="tick" x="{x:.1f}" y="{top + plot_h + 12}" '
                    f'text-anchor="middle">1e{decade}</text>')
    for decade in range(math.ceil(ly[0]), math.floor(ly[1]) + 1):
        _, y = at(10.0 ** lx[0], 10.0 ** decade)
        body.append(f'<text class="tick" x="{left - 3}" y="{y + 3:.1f}" '
                    f'text-anchor="end">1e{decade}</text>')
    body.append(f'<text class="label" x="{left + plot_w / 2}" y="{height - 4}" '
                f'text-anchor="middle">{escape(x_label)}</text>')
    body.append(f'<text class="label" x="10" y="{top + plot_h / 2}" text-anchor="middle" '
                f'transform="rotate(-90 10 {top + plot_h / 2})">{escape(y_label)}</text>')
    for i, (name, pts) in enumerate(points.items()):
        coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in (at(x, y) for x, y in pts))
        body.append(f'<polyline class="series-{i}" points="{coords}"><title>{escape(name)}'
                    f"</title></polyline>")
        for px, py in (at(x, y) for x, y in pts):
            body.append(f'<circle class="series-{i}" cx="{px:.1f}" cy="{py:.1f}" r="2"/>')
    return _svg(width, height, title, body)


def sparkline(lines: Mapping[str, Sequence[float]], *, title: str, width: int = 120,
              height: int = 24) -> str:
    """Tiny lines sharing one horizontal axis (the runs, oldest first), each scaled to its
    own range; CSS class = the line's name."""
    body = []
    for name, values in lines.items():
        if not values:
            continue
        low, high = min(values), max(values)
        n = len(values)
        coords = []
        for i, v in enumerate(values):
            x = 2 + (width - 4) * (i / (n - 1) if n > 1 else 0.5)
            y = height - 3 - (height - 6) * ((v - low) / (high - low) if high > low else 0.5)
            coords.append(f"{x:.1f},{y:.1f}")
        body.append(f'<polyline class="{escape(name)}" points="{" ".join(coords)}"/>')
        x, y = coords[-1].split(",")
        body.append(f'<circle class="{escape(name)}" cx="{x}" cy="{y}" r="1.5"/>')
    return _svg(width, height, title, body)
