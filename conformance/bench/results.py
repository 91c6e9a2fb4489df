"""What a bench run measured, as data: per scenario, each implementation's timing,
the bytes, the copy roofline and the A/A deviation; per gate, its verdict. The JSON
file ``bench.json`` is :func:`dataclasses.asdict` of :class:`BenchRun`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .noise import aa_deviation
from .roofline import is_suspect, roofline_fraction
from .timing import Stats

BENCH_FORMAT = "embedspec-bench/1"
AA = "torch.nn (A/A)"
COPY = "copy"


@dataclass
class Timing:
    """One implementation on one scenario. ``error``: why it was not timed (failed to
    build or compile, or rejected by the reference check)."""

    name: str
    role: str  # "backend", "baseline", "aa" or "copy"
    stats: Stats | None = None
    peak_bytes: int | None = None
    setup_s: float = 0.0
    error: str | None = None


@dataclass
class ScenarioResult:
    """``status``: ``ok``, ``skipped`` (unsupported, or does not fit memory), ``rejected``
    (the backend's output differs from the reference) or ``error``."""

    scenario: str
    description: str
    operation: str
    backend: str
    status: str
    reason: str = ""
    bytes: int = 0
    formula: str = ""
    timings: dict[str, Timing] = field(default_factory=dict)
    rerun: bool = False

    def time(self, name: str) -> float | None:
        """``name``'s time per call that every ratio uses: its best round (see
        :data:`embedspec.conformance.bench.timing.RATIO_STATISTIC`)."""
        t = self.timings.get(name)
        return t.stats.best if t is not None and t.stats is not None else None

    def speedup(self, baseline: str, of: str | None = None) -> float | None:
        """The baseline's time over ``of``'s (default: the backend's)."""
        mine, theirs = self.time(of or self.backend), self.time(baseline)
        return None if mine is None or theirs is None else theirs / mine

    def fraction(self, name: str | None = None) -> float | None:
        """``name``'s (default: the backend's) fraction of the copy roofline."""
        mine, copy = self.time(name or self.backend), self.time(COPY)
        return None if mine is None or copy is None else roofline_fraction(mine, copy)

    def aa(self) -> float | None:
        a, b = self.time("torch.nn"), self.time(AA)
        return None if a is None or b is None else aa_deviation(a, b)

    def suspect(self, band: float, name: str | None = None) -> bool:
        fraction = self.fraction(name)
        return fraction is not None and is_suspect(fraction, band)


@dataclass
class GateResult:
    """A gate applied to one scenario. ``verdict``: ``holds``, ``holds within noise``,
    ``fails``, ``suspect`` (faster than the roofline: never a pass), ``rejected``,
    ``not run`` (scenario not selected or not timed) or ``not applicable``
    (device/threads)."""

    scenario: str
    gate: str
    threshold: float
    value: float | None
    verdict: str
    rerun_value: float | None = None
    reason: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict in ("fails", "suspect", "rejected")


@dataclass
class GrowthPoint:
    x: int
    times: dict[str, float | None]


@dataclass
class GrowthTable:
    """Time (best round) of a forward against ``axis`` (``ids`` or ``rows``), with the
    log-log slope fitted over the points from ``fit_from`` up."""

    axis: str
    fixed: str
    points: list[GrowthPoint]
    slopes: dict[str, float | None]
    fit_from: int


@dataclass
class BenchRun:
    backend: str
    version: str
    device: str
    clock: str
    threads: int
    band: float
    scenarios: list[ScenarioResult]
    gates: list[GateResult]
    gates_path: str | None = None
    stale_gates: list[str] = field(default_factory=list)
    growth: list[GrowthTable] = field(default_factory=list)
    compile_s: float = 0.0
    duration_s: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)
    format: str = BENCH_FORMAT

    @property
    def exit_status(self) -> int:
        """0 when every gate holds and no scenario was rejected or errored, else 1."""
        bad = any(s.status in ("rejected", "error") for s in self.scenarios)
        return 1 if bad or any(g.failed for g in self.gates) else 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
