"""The results of one conformance run, as data and as JSON.

A run of the suite on one backend produces a :class:`RunResults`: a header (which
backend, profile, seed, device, versions, machine, tolerance policy) and one
:class:`TestResult` per test. ``--embedspec-results PATH`` writes it as JSON; the
compatibility report reads those files.

While the run is in progress, :class:`ResultsWriter` appends each event to
``PATH.partial`` (JSON lines: header, the collected tests, each test's start and
result). If the run crashes or is killed, :func:`load_partial` turns that file into
an incomplete :class:`RunResults` saying which tests never finished and which one
was running, so a report can show where a backend crashed or hung;
:func:`partial_progress` counts its results while the run goes on.

A results file is marked ``"complete": true`` only when the run ended by itself
(not interrupted) with a result for every test it collected; otherwise it says
``false`` and lists the tests left (``pending``). A file without the mark, or whose
mark contradicts its pending tests, reads as incomplete.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

#: The outcome of one test.
#: ``unsupported``: skipped because the backend does not declare the capability;
#: ``xfailed``/``xpassed``: listed in the expectations file and failed / passed;
#: ``error``: failed outside the test body (fixture, setup, collection).
OUTCOMES = ("passed", "failed", "unsupported", "xfailed", "xpassed", "error", "skipped")
#: Outcomes that make a run fail.
UNEXPECTED_OUTCOMES = ("failed", "xpassed", "error")
RESULTS_FORMAT = "embedspec-results/1"
#: pytest's exit status of a run stopped by Ctrl-C (``pytest.ExitCode.INTERRUPTED``).
PYTEST_INTERRUPTED = 2


@dataclass
class TestResult:
    """One test of one run. ``failure`` is the full failure text and ``notes`` the
    exception's notes (repro snippets); ``message`` is one line: the error, the skip
    reason or the expectation's reason."""

    __test__ = False  # not a pytest test class

    id: str
    family: str | None
    feature: str | None
    dtype: str
    device: str
    outcome: str
    duration_s: float = 0.0
    message: str = ""
    failure: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TestRef:
    """A collected test, before it has run."""

    __test__ = False

    id: str
    family: str | None
    feature: str | None
    dtype: str


@dataclass
class RunHeader:
    backend: dict[str, Any]
    profile: str
    seed: int
    device: str
    versions: dict[str, str]
    machine: dict[str, Any]
    tolerance: str | None = None
    expectations: str | None = None


@dataclass
class RunResults:
    header: RunHeader
    tests: list[TestResult] = field(default_factory=list)
    stale_expectations: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    #: pytest's exit status of the run (``pytest.ExitCode``)
    exit_status: int | None = None
    #: True only for a run that ended by itself with a result for every collected test
    complete: bool = True
    #: tests collected but without a result (incomplete runs only)
    pending: list[TestRef] = field(default_factory=list)
    #: the test that had started and not finished (incomplete runs only)
    running: str | None = None

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for t in self.tests:
            counts[t.outcome] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        data = {"format": RESULTS_FORMAT, **asdict(self)}
        data["summary"] = self.counts()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResults:
        if data.get("format") != RESULTS_FORMAT:
            raise ValueError(f"not an embedspec results file (format {data.get('format')!r}, "
                             f"expected {RESULTS_FORMAT!r})")
        return cls(
            header=RunHeader(**_known(RunHeader, data["header"])),
            tests=[TestResult(**_known(TestResult, t)) for t in data.get("tests", [])],
            stale_expectations=list(data.get("stale_expectations", [])),
            duration_s=float(data.get("duration_s", 0.0)),
            exit_status=data.get("exit_status"),
            complete=data.get("complete") is True and not data.get("pending"),
            pending=[TestRef(**_known(TestRef, t)) for t in data.get("pending", [])],
            running=data.get("running"),
        )


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def load_results(path: str | Path) -> RunResults:
    """Read a results file written by ``--embedspec-results``."""
    path = Path(path)
    try:
        return RunResults.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: malformed results file: {exc}") from exc


def partial_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".partial")


class ResultsWriter:
    """Writes a run's events to ``PATH.partial`` as they happen, then ``PATH``, which
    :meth:`finish` marks complete only when the run completed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial.write_text("", encoding="utf-8")
        self._collected: list[TestRef] = []
        self._running: str | None = None

    def _append(self, kind: str, payload: dict[str, Any]) -> None:
        with self.partial.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"kind": kind, **payload}) + "\n")

    def header(self, header: RunHeader) -> None:
        self._append("header", asdict(header))

    def collected(self, tests: list[TestRef]) -> None:
        self._collected = list(tests)
        self._append("collected", {"tests": [asdict(t) for t in tests]})

    def started(self, test_id: str) -> None:
        self._running = test_id
        self._append("start", {"id": test_id})

    def result(self, result: TestResult) -> None:
        if result.id == self._running:
            self._running = None
        self._append("result", asdict(result))

    def finish(self, results: RunResults) -> None:
        """Write ``results`` to ``PATH`` (atomically) and remove the partial file. The
        file is marked incomplete, with the tests left as ``pending``, when the run was
        interrupted or a collected test has no result."""
        done = {t.id for t in results.tests}
        left = [t for t in self._collected if t.id not in done]
        if left or results.exit_status == PYTEST_INTERRUPTED:
            results.complete = False
            results.pending = results.pending or left
            results.running = results.running or self._running
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(results.to_json(), indent=1) + "\n", encoding="utf-8")
        tmp.replace(self.path)
        self.partial.unlink(missing_ok=True)


def load_partial(path: str | Path) -> RunResults | None:
    """The incomplete results in ``PATH.partial`` (``path`` names the final file), or
    None when there is no partial file or it lacks a header."""
    partial = partial_path(path)
    if not partial.exists():
        return None
    header = None
    collected: list[TestRef] = []
    done: dict[str, TestResult] = {}
    running = None
    for line in partial.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            break  # the last line was cut off by the crash
        kind = event.pop("kind", None)
        if kind == "header":
            header = RunHeader(**_known(RunHeader, event))
        elif kind == "collected":
            collected = [TestRef(**_known(TestRef, t)) for t in event["tests"]]
        elif kind == "start":
            running = event["id"]
        elif kind == "result":
            result = TestResult(**_known(TestResult, event))
            done[result.id] = result
            if running == result.id:
                running = None
    if header is None:
        return None
    pending = [t for t in collected if t.id not in done]
    return RunResults(header, list(done.values()), complete=False, pending=pending,
                      running=running)


def partial_progress(path: str | Path) -> tuple[int, int] | None:
    """(tests with a result, tests collected) of the run writing ``PATH.partial``, or
    None before it has collected its tests (or when there is no partial file)."""
    try:
        lines = partial_path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    total, done = None, 0
    for line in lines:
        if line.startswith('{"kind": "result"'):
            done += 1
        elif line.startswith('{"kind": "collected"'):
            try:
                total = len(json.loads(line)["tests"])
            except (json.JSONDecodeError, KeyError, TypeError):
                return None
    return None if total is None else (done, total)


def versions() -> dict[str, str]:
    """Versions of Python, torch, embedspec and hypothesis."""
    return {
        "python": platform.python_version(),
        "torch": _version("torch"),
        "embedspec": _version("embedspec"),
        "hypothesis": _version("hypothesis"),
    }


def _version(distribution: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine(device: str = "cpu") -> dict[str, Any]:
    """The machine a run is on: platform, architecture, CPU count, and the GPU for cuda."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "architecture": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python_implementation": f"{platform.python_implementation()} {sys.version.split()[0]}",
    }
    if device == "cuda":
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
    return info


def tolerance_policy() -> str | None:
    """``embedspec.conformance.checks.tolerance.describe()``, or None where it is absent."""
    name = "embedspec.conformance.checks.tolerance"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise
    return str(module.describe())
