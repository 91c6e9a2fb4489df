"""A bench run as Markdown: the settings line, the table (one row per scenario: the
backend's time, the baselines' times, the speedups, the roofline fraction, the A/A
deviation, the memory and the gate verdicts), the notes the table refers to, and the
growth tables. The same text is printed and written to ``bench.md``."""

from __future__ import annotations

from tabulate import tabulate

from .baselines import BASELINES
from .results import BenchRun, GrowthTable, ScenarioResult

DASH = "—"


def render_markdown(run: BenchRun, heading: str = "#") -> str:
    sections = [
        f"{heading} embedspec bench: {run.backend}",
        _settings(run),
        _table(run),
        _notes(run),
        *(_growth(t, run.backend, heading) for t in run.growth),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _settings(run: BenchRun) -> str:
    threads = f"{run.threads} thread{'s' if run.threads != 1 else ''}"
    clock = {"wall": "wall time", "cpu": "CPU time of this process",
             "cuda": "CUDA events", "cuda-cold": "CUDA events, L2 flushed before each call"
             }.get(run.clock, run.clock)
    versions = ", ".join(f"{k} {v}" for k, v in run.versions.items())
    return (f"Backend **{run.backend}** {run.version} on **{run.device}**, {clock}, "
            f"torch using **{threads}**; {versions}. Noise band (median A/A deviation of "
            f"the run): **±{run.band:.1%}**. torch.compile's first calls (compilation, "
            f"outside the timed rounds): {run.compile_s:.1f} s. Run time {run.duration_s:.0f} s.")


def _table(run: BenchRun) -> str:
    headers = ["scenario", f"{run.backend} ms (min/med/max)",
               *[f"{b} ms" for b in BASELINES],
               *[f"vs {b}" for b in BASELINES], "roofline", "GB/s", "A/A", "peak MiB", "gate"]
    rows = [_row(r, run) for r in run.scenarios]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _row(r: ScenarioResult, run: BenchRun) -> list[str]:
    name = r.scenario + (" (re-run)" if r.rerun else "")
    if r.status != "ok":
        blanks = [DASH] * (2 * len(BASELINES) + 5)
        return [name, f"**{r.status}**", *blanks, _gates(r, run) or DASH]
    mine = r.timings[r.backend].stats
    assert mine is not None
    own = f"**{mine.min * 1e3:.3f}** / {mine.median * 1e3:.3f} / {mine.max * 1e3:.3f}"
    times = [_ms(r.time(b)) if b != r.backend else "(self)" for b in BASELINES]
    speedups = [_x(r.speedup(b)) if b != r.backend else DASH for b in BASELINES]
    fraction = r.fraction()
    roof = DASH if fraction is None else f"{fraction:.0%}"
    if r.suspect(run.band):
        roof += " ⚠ suspect"
    bandwidth = r.bytes / mine.best / 1e9
    aa = r.aa()
    peak = r.timings[r.backend].peak_bytes
    return [name, own, *times, *speedups, roof, f"{bandwidth:.1f}",
            DASH if aa is None else f"{aa:.1%}",
            DASH if peak is None else f"{peak / 2**20:.1f}", _gates(r, run) or DASH]


def _gates(r: ScenarioResult, run: BenchRun) -> str:
    rerun_row = r.rerun
    texts = []
    for g in run.gates:
        if g.scenario != r.scenario or g.verdict in ("not applicable",):
            continue
        if rerun_row and g.rerun_value is None:
            continue
        value = g.rerun_value if rerun_row else g.value
        shown = DASH if value is None else f"{value:.2f}"
        mark = "**FAILS**" if g.failed else g.verdict
        texts.append(f"{mark} ({g.gate}: {shown})")
    return "; ".join(texts)


def _notes(run: BenchRun) -> str:
    lines = []
    for r in run.scenarios:
        if r.status != "ok":
            lines.append(f"- `{r.scenario}` {r.status}: {r.reason}")
        for t in r.timings.values():
            if t.error and t.role != "backend":
                lines.append(f"- `{r.scenario}`: baseline {t.name} left out: {t.error}")
    for g in run.gates:
        if g.failed or g.verdict == "not run":
            lines.append(f"- gate `{g.scenario}` ({g.gate}) {g.verdict}: {g.reason}")
    if run.stale_gates:
        lines.append(f"- stale gates in {run.gates_path} (no such scenario): "
                     + ", ".join(f"`{s}`" for s in run.stale_gates))
    if run.gates_path is None:
        lines.append(f"- {run.backend} has no gate file")
    legend = ("Times are per call, the best of the interleaved rounds (the backend's "
              "min / median / max shown); every ratio uses the best rounds. `vs X` = X's "
              "time / the backend's (higher is better); roofline = the time of copying the "
              "bytes the operation must move over the backend's (the copy is timed in the "
              "same rounds); A/A = how far "
              "apart two timings of torch.nn are; peak = bytes the call allocates at once.")
    return "\n".join([legend, "", *lines]) if lines else legend


def _growth(table: GrowthTable, backend: str, heading: str) -> str:
    label = {"ids": "ids per call", "rows": "table rows"}[table.axis]
    rows = [[f"{p.x:,}", _ms(p.times.get("backend")), _ms(p.times.get("torch.nn"))]
            for p in table.points]
    slopes = ", ".join(f"{backend if n == 'backend' else n} "
                       f"{DASH if s is None else f'{s:.2f}'}" for n, s in table.slopes.items())
    return (f"{heading}# Growth: forward time against {label} ({table.fixed})\n\n"
            + tabulate(rows, headers=[label, f"{backend} ms", "torch.nn ms"],
                       tablefmt="github", disable_numparse=True)
            + f"\n\nFitted slope of log(time) against log({label}) from {table.fit_from:,} "
              f"up: {slopes}.")


def _ms(seconds: float | None) -> str:
    return DASH if seconds is None else f"{seconds * 1e3:.3f}"


def _x(ratio: float | None) -> str:
    return DASH if ratio is None else f"{ratio:.2f}x"
