"""The compatibility report as data: rows = family x feature, columns = backends.

Each cell counts the outcomes of one backend's tests of one (family, feature):
passed, failed, error, unsupported, expected failure (xfailed), expected failure
that passed (xpassed) and skipped. A backend whose run crashed, timed out or was
interrupted keeps the counts of the tests that finished; the rows holding tests that
never finished are marked "crash", "timeout" or "interrupted" with the number of tests
left. Each cell also keeps its
counts per dtype, its skipped and unsupported tests (with their reasons) and its
verdict (:mod:`embedspec.conformance.report.verdicts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from embedspec.backends.contract import FEATURES
from embedspec.conformance.report.verdicts import divergence_ids, verdict
from embedspec.conformance.session.results import (
    OUTCOMES,
    UNEXPECTED_OUTCOMES,
    RunResults,
    TestResult,
)

if TYPE_CHECKING:
    from embedspec.conformance.report.history import History

RunStatus = Literal["ok", "crash", "timeout", "interrupted"]
#: The row of tests whose spec marker is missing.
UNMARKED = ("(unmarked)", "(unmarked)")


@dataclass
class BackendRun:
    """What running the suite on one backend produced.

    ``results`` is complete for status "ok"; for "crash", "timeout" and "interrupted"
    (the report was stopped, and stopped the run) it holds what the run recorded before
    it stopped (``results.pending`` lists the tests that never finished), or is None
    when it recorded nothing. ``profile`` is the profile the backend ran on.
    """

    name: str
    status: RunStatus
    results: RunResults | None
    version: str = ""
    message: str = ""
    duration_s: float = 0.0
    #: the last lines the run printed, kept for crashes, timeouts and interrupts
    output_tail: str = ""
    profile: str = ""


@dataclass
class Cell:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    #: "ok", or the column's "crash"/"timeout"/"interrupted" when some of this row's tests
    #: never finished
    run_status: str = "ok"
    #: tests of this row that never finished (crash/timeout/interrupted)
    pending: int = 0
    failing: list[TestResult] = field(default_factory=list)
    expected: list[TestResult] = field(default_factory=list)
    #: the unsupported and skipped tests, whose messages are the reasons
    skips: list[TestResult] = field(default_factory=list)
    #: dtype -> outcome -> number of tests (outcomes that occur only)
    by_dtype: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, result: TestResult) -> None:
        self.counts[result.outcome] += 1
        per_dtype = self.by_dtype.setdefault(result.dtype, {})
        per_dtype[result.outcome] = per_dtype.get(result.outcome, 0) + 1
        if result.outcome in UNEXPECTED_OUTCOMES:  # listed in the Failures section
            self.failing.append(result)
        elif result.outcome == "xfailed":
            self.expected.append(result)
        elif result.outcome in ("unsupported", "skipped"):
            self.skips.append(result)

    @property
    def verdict(self) -> str:
        """One of :data:`~embedspec.conformance.report.verdicts.VERDICTS`."""
        return verdict(self.counts, self.run_status)

    @property
    def divergences(self) -> list[str]:
        """The divergence ids the reasons of the cell's expected failures name."""
        return list(dict.fromkeys(d for r in self.expected for d in divergence_ids(r.message)))


@dataclass
class Column:
    backend: str
    version: str
    status: RunStatus
    message: str
    duration_s: float
    counts: dict[str, int]
    spec: str = ""
    description: str = ""
    #: the expectations file the run used, if any
    expectations: str | None = None
    stale_expectations: list[str] = field(default_factory=list)
    #: the test running when the run crashed, timed out or was interrupted, if known
    running: str | None = None
    output_tail: str = ""
    #: the profile the backend ran on (the reference's may be lighter than the report's)
    profile: str = ""


@dataclass
class DivergenceCheck:
    """A documented departure of a backend from the spec, and the failures it explains.

    ``shown`` says whether the report shows it: some failing test of this backend lies
    in its rows (and dtypes). ``named`` are its own witnesses: the expected failures
    whose reason names this divergence's id."""

    backend: str
    id: str
    rule: str
    description: str
    rows: list[tuple[str, str]]
    dtypes: list[str]
    failing: list[str] = field(default_factory=list)
    named: list[str] = field(default_factory=list)

    @property
    def shown(self) -> bool:
        return bool(self.failing)


@dataclass
class Report:
    profile: str
    seed: int
    device: str
    versions: dict[str, str]
    machine: dict[str, object]
    tolerance: str | None
    generated: str
    columns: list[Column]
    rows: list[tuple[str, str]]
    #: cells[(family, feature)][backend]
    cells: dict[tuple[str, str], dict[str, Cell]]
    #: backends that were not run, with the reason
    not_run: list[tuple[str, str]] = field(default_factory=list)
    #: documented divergences of the backends that publish them
    divergences: list[DivergenceCheck] = field(default_factory=list)
    #: per backend with documented divergences: its failing tests that none explains
    undocumented: dict[str, list[TestResult]] = field(default_factory=dict)
    #: the commit of the embedspec checkout the run used, when it is one
    git_commit: str | None = None
    #: parsed ``bench.json`` of each benchmarked backend (``embedspec report --bench``)
    bench: list[dict[str, Any]] = field(default_factory=list)
    #: what changed since the previous run, from the output folder's history
    history: History | None = None
    #: ``report --bench``: (backend, reason) of each backend that could not be benchmarked
    bench_not_run: list[tuple[str, str]] = field(default_factory=list)

    def cell(self, row: tuple[str, str], backend: str) -> Cell:
        return self.cells[row][backend]


def build_report(runs: Sequence[BackendRun], *, profile: str, seed: int, device: str,
                 versions: dict[str, str], machine: dict[str, object], tolerance: str | None,
                 generated: str, not_run: Iterable[tuple[str, str]] = (),
                 divergences: Mapping[str, Sequence[Any]] | None = None,
                 git_commit: str | None = None) -> Report:
    """Aggregate the runs; rows are every feature of FEATURES, in its order, then any
    other (family, feature) a result names.

    ``divergences`` maps a backend to its documented departures from the spec (objects
    with ``id``, ``rule``, ``description``, ``rows``, ``dtypes`` and
    ``applies_to(family, feature, dtype)``, e.g. ``embedspec.backends.torch_nn.DIVERGENCES``);
    the report checks each failure of that backend against them.
    """
    rows: list[tuple[str, str]] = [(f, feat) for f, feats in FEATURES.items() for feat in feats]
    for run in runs:
        for family, feature in _keys(run):
            if (family, feature) not in rows:
                rows.append((family, feature))
    cells = {row: {run.name: Cell() for run in runs} for row in rows}
    columns = []
    for run in runs:
        results = run.results
        for result in results.tests if results else ():
            cells[_key(result.family, result.feature)][run.name].add(result)
        if run.status != "ok":
            _mark_unfinished(run, rows, cells)
        columns.append(Column(
            backend=run.name, version=run.version or _header_version(results),
            status=run.status, message=run.message, duration_s=run.duration_s,
            counts=results.counts() if results else dict.fromkeys(OUTCOMES, 0),
            spec=results.header.backend.get("spec", "") if results else "",
            description=str(results.header.backend.get("description", "")) if results else "",
            expectations=results.header.expectations if results else None,
            stale_expectations=list(results.stale_expectations) if results else [],
            running=results.running if results else None,
            output_tail=run.output_tail,
            profile=run.profile or (results.header.profile if results else ""),
        ))
    checks, undocumented = _check_divergences(runs, divergences or {})
    return Report(profile=profile, seed=seed, device=device, versions=versions,
                  machine=machine, tolerance=tolerance, generated=generated, columns=columns,
                  rows=rows, cells=cells, not_run=list(not_run), divergences=checks,
                  undocumented=undocumented, git_commit=git_commit)


def _check_divergences(runs: Sequence[BackendRun], divergences: Mapping[str, Sequence[Any]]
                       ) -> tuple[list[DivergenceCheck], dict[str, list[TestResult]]]:
    checks: list[DivergenceCheck] = []
    undocumented: dict[str, list[TestResult]] = {}
    for run in runs:
        documented = divergences.get(run.name)
        if not documented or run.results is None:
            continue
        own = [DivergenceCheck(run.name, d.id, d.rule, d.description, list(d.rows),
                               list(d.dtypes)) for d in documented]
        undocumented[run.name] = []
        for result in run.results.tests:
            if result.outcome not in ("failed", "error", "xfailed") or result.family is None:
                continue
            explaining = [check for check, d in zip(own, documented, strict=True)
                          if d.applies_to(result.family, result.feature, result.dtype)]
            # An expected failure whose reason names divergences is explained by those alone.
            ids = divergence_ids(result.message) if result.outcome == "xfailed" else []
            named = [check for check in explaining if check.id in ids]
            if named:
                explaining = named
            for check in named:
                check.named.append(result.id)
            for check in explaining:
                check.failing.append(result.id)
            if not explaining and result.outcome != "xfailed":  # an xfail has its reason
                undocumented[run.name].append(result)
        checks += own
    return checks, undocumented


def _mark_unfinished(run: BackendRun, rows: list[tuple[str, str]],
                     cells: dict[tuple[str, str], dict[str, Cell]]) -> None:
    """Crash/timeout/interrupted: the rows with unfinished tests; every row when nothing
    is known."""
    if run.results is None:
        for row in rows:
            cells[row][run.name].run_status = run.status
        return
    for ref in run.results.pending:
        cell = cells[_key(ref.family, ref.feature)][run.name]
        cell.run_status = run.status
        cell.pending += 1


def _keys(run: BackendRun) -> list[tuple[str, str]]:
    if run.results is None:
        return []
    refs = [(t.family, t.feature) for t in run.results.tests]
    refs += [(t.family, t.feature) for t in run.results.pending]
    return [_key(f, feat) for f, feat in refs]


def _key(family: str | None, feature: str | None) -> tuple[str, str]:
    if family is None or feature is None:
        return UNMARKED
    return (family, feature)


def _header_version(results: RunResults | None) -> str:
    if results is None:
        return ""
    return str(results.header.backend.get("version", ""))
