"""Expected failures of a backend: the expectations file.

A backend that knowingly departs from the spec lists the affected tests in a JSON
file; the suite marks them as expected failures (strict: an expected failure that
passes fails the run, so the file never silently goes out of date)::

    {
      "backend": "torch_nn",
      "entries": [
        {"test": "test_embedding_errors.py::test_bad_index_dtype[float32]",
         "status": "xfail",
         "reason": "torch raises RuntimeError, the spec TypeError (S0.2)"}
      ]
    }

A test id is the pytest node id relative to the ``embedspec.conformance`` package.
An entry whose test no longer exists is *stale*; runs report stale entries, and
accepting a run (:func:`accept`) drops them.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Where the built-in backends' expectation files live: ``<dir>/<backend name>.json``.
EXPECTATIONS_DIR = Path(__file__).resolve().parents[1] / "expectations"
#: The statuses an entry may have.
STATUSES = ("xfail",)
#: The prefix of the reason :func:`accept` gives a newly accepted failure.
ACCEPTED_PREFIX = "accepted: "


class ExpectationsError(ValueError):
    """The expectations file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Expectation:
    test: str
    reason: str
    status: str = "xfail"


@dataclass
class Expectations:
    """The expected failures of one backend, by test id."""

    backend: str
    entries: dict[str, Expectation] = field(default_factory=dict)

    def get(self, test_id: str) -> Expectation | None:
        return self.entries.get(test_id)

    def stale(self, collected: Collection[str]) -> list[str]:
        """The entries whose test is not among the ``collected`` test ids."""
        return [test for test in self.entries if test not in collected]

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "entries": [
                {"test": e.test, "status": e.status, "reason": e.reason}
                for e in sorted(self.entries.values(), key=lambda e: e.test)
            ],
        }


@dataclass(frozen=True)
class Observation:
    """What one test did in a run, as far as accepting it is concerned."""

    failing: bool
    #: the first line of the error, for failing tests
    message: str = ""


@dataclass
class AcceptSummary:
    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dropped_passing: list[str] = field(default_factory=list)
    dropped_stale: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{len(self.added)} added, {len(self.kept)} kept, "
                f"{len(self.dropped_passing)} dropped (now passing), "
                f"{len(self.dropped_stale)} dropped (stale)")


def parse_expectations(data: object, source: str = "<expectations>") -> Expectations:
    """Validate decoded JSON ``data``; :class:`ExpectationsError` names ``source`` and the
    problem."""
    if not isinstance(data, dict):
        raise ExpectationsError(f"{source}: the top level must be an object with keys "
                                f"'backend' and 'entries', got {type(data).__name__}")
    unknown = set(data) - {"backend", "entries"}
    if unknown:
        raise ExpectationsError(f"{source}: unknown top-level keys {sorted(unknown)}; "
                                "expected 'backend' and 'entries'")
    backend = data.get("backend")
    if not isinstance(backend, str) or not backend:
        raise ExpectationsError(f"{source}: 'backend' must be a non-empty string, "
                                f"got {backend!r}")
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list):
        raise ExpectationsError(f"{source}: 'entries' must be a list, got {raw_entries!r}")
    entries: dict[str, Expectation] = {}
    for i, raw in enumerate(raw_entries):
        entry = _parse_entry(raw, f"{source}: entries[{i}]")
        if entry.test in entries:
            raise ExpectationsError(f"{source}: entries[{i}]: test {entry.test!r} is listed "
                                    "twice")
        entries[entry.test] = entry
    return Expectations(backend, entries)


def _parse_entry(raw: object, where: str) -> Expectation:
    if not isinstance(raw, dict):
        raise ExpectationsError(f"{where}: an entry must be an object, got {raw!r}")
    unknown = set(raw) - {"test", "status", "reason"}
    if unknown:
        raise ExpectationsError(f"{where}: unknown keys {sorted(unknown)}; "
                                "expected 'test', 'status', 'reason'")
    test, status, reason = raw.get("test"), raw.get("status"), raw.get("reason")
    if not isinstance(test, str) or "::" not in test:
        raise ExpectationsError(f"{where}: 'test' must be a test id like "
                                f"'test_module.py::test_name[params]', got {test!r}")
    if status not in STATUSES:
        raise ExpectationsError(f"{where}: 'status' must be one of {list(STATUSES)}, "
                                f"got {status!r}")
    if not isinstance(reason, str) or not reason.strip():
        raise ExpectationsError(f"{where}: 'reason' must be a non-empty string, got {reason!r}")
    return Expectation(test, reason, status)


def load_expectations(path: str | Path) -> Expectations:
    """Read and validate an expectations file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExpectationsError(f"{path}: cannot read the expectations file: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExpectationsError(f"{path}: not valid JSON: {exc}") from exc
    return parse_expectations(data, str(path))


def write_expectations(expectations: Expectations, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(expectations.to_json(), indent=2) + "\n", encoding="utf-8")


def accept(current: Expectations | None, backend: str, observed: Mapping[str, Observation],
           collected: Collection[str]) -> tuple[Expectations, AcceptSummary]:
    """The expectations after accepting a run.

    ``observed`` holds the tests that ran, ``collected`` every test id that exists.
    An entry whose test still fails keeps its reason; a test that failed without an
    entry gets the reason ``"accepted: <first line of the error>"``; entries whose
    test passed, or that are stale, are dropped; entries of tests that did not run
    (deselected, unsupported, after ``-x`` stopped the run) are kept as they are.
    """
    summary = AcceptSummary()
    entries: dict[str, Expectation] = {}
    for test, entry in (current.entries if current else {}).items():
        if test not in collected:
            summary.dropped_stale.append(test)
        elif test in observed and not observed[test].failing:
            summary.dropped_passing.append(test)
        else:
            entries[test] = entry
            summary.kept.append(test)
    for test, obs in observed.items():
        if obs.failing and test not in entries:
            message = obs.message.strip().splitlines()[0] if obs.message.strip() else "failed"
            entries[test] = Expectation(test, ACCEPTED_PREFIX + message)
            summary.added.append(test)
    return Expectations(backend, dict(sorted(entries.items()))), summary
