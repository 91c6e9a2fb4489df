"""The words every format of the report shares: what a cell counts (with the dtypes of
each count), the reasons of its skips, the end of a failure's traceback, and the note
that explains a column's unsupported and skipped tests. The parts of a failure's notes
are sorted by :mod:`embedspec.conformance.session.failure_notes`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from embedspec.conformance.report.model import Cell, Column, DivergenceCheck, Report
from embedspec.conformance.report.verdicts import MARKS, dtypes_by_outcome, plural
from embedspec.conformance.session.results import TestResult

#: The order a cell's counts are written in.
COUNT_ORDER = ("passed", "failed", "error", "xpassed", "xfailed", "unsupported", "skipped")
OUTCOME_WORDS = {"passed": "passed", "failed": "failed", "error": "errored",
                 "xpassed": "expected to fail but passed", "xfailed": "failed as expected",
                 "unsupported": "unsupported", "skipped": "skipped"}
#: The most lines of a traceback the report shows (its end).
MAX_FAILURE_LINES = 60
#: What the reference column's unsupported and skipped tests are.
REFERENCE_NOTE = (
    "The reference column is the spec itself, run in one process: it declares every "
    "feature one process can exercise, and every test it runs must pass (a failure there "
    "is a bug of the suite). Its unsupported tests are those of features that need "
    "several processes (sharded / data_parallel), and its skipped tests those that need a "
    "world of more than one rank; the distributed column runs them.")


@dataclass(frozen=True)
class Count:
    outcome: str
    n: int
    #: the dtypes with tests of this outcome, when they are only some of the cell's
    dtypes: tuple[str, ...]

    @property
    def text(self) -> str:
        dtypes = f" ({', '.join(self.dtypes)})" if self.dtypes else ""
        return f"{self.n} {MARKS[self.outcome]}{dtypes}"


def counts(cell: Cell) -> list[Count]:
    """The cell's non-zero counts in :data:`COUNT_ORDER`, each with its dtypes when
    they are only some of the cell's dtypes."""
    by_outcome = dtypes_by_outcome(cell.by_dtype)
    every = len(cell.by_dtype)
    return [Count(o, cell.counts[o], dtypes if len(dtypes) < every else ())
            for o in COUNT_ORDER if cell.counts.get(o)
            for dtypes in [tuple(by_outcome.get(o, ()))]]


def dtype_lines(cell: Cell) -> list[str]:
    """``float16: 2 unsupported`` per dtype of the cell."""
    lines = []
    for dtype, outcomes in cell.by_dtype.items():
        parts = [f"{n} {OUTCOME_WORDS[o]}" for o in COUNT_ORDER if (n := outcomes.get(o))]
        lines.append(f"{dtype}: {', '.join(parts)}")
    return lines


def skip_reasons(cell: Cell) -> list[tuple[str, int]]:
    """(reason, number of tests) of the cell's unsupported and skipped tests."""
    return sorted(Counter(r.message or "(no reason given)" for r in cell.skips).items())


def column_note(column: Column, report_profile: str | None = None) -> str:
    """What the report knows about a column: that it ran on another profile than the
    report's ``report_profile`` (the reference's lighter default), and why it has
    unsupported or skipped tests."""
    notes = []
    if report_profile and column.profile and column.profile != report_profile:
        notes.append(profile_note(column, report_profile))
    if column.backend == "reference" and (column.counts.get("unsupported")
                                          or column.counts.get("skipped")):
        notes.append(REFERENCE_NOTE)
    return " ".join(notes)


def profile_note(column: Column, report_profile: str) -> str:
    """Why ``column`` ran on its own profile."""
    if column.backend == "reference":
        return (f"The reference column ran on the {column.profile} profile, not "
                f"{report_profile}: it checks the spec against itself, so more examples "
                "there search for bugs of the suite rather than of a backend "
                f"(--reference-profile {report_profile} runs it like the others).")
    return f"The {column.backend} column ran on the {column.profile} profile, not " \
           f"{report_profile}."


def failing_summary(report: Report, backend: str) -> str:
    """``1 failing test`` / ``3 failing tests`` of a backend's column."""
    n = sum(len(report.cell(row, backend).failing) for row in report.rows)
    return plural(n, "failing test")


def divergence_where(check: DivergenceCheck) -> str:
    """The rows (and dtypes) where a divergence shows."""
    where = ", ".join(f"{family} / {feature}" for family, feature in check.rows)
    return where + (f" ({', '.join(check.dtypes)})" if check.dtypes else "")


def divergence_shown(check: DivergenceCheck) -> str:
    return (f"yes: {plural(len(check.failing), 'failing test')} in its rows" if check.shown
            else "no")


def witnesses(report: Report, check: DivergenceCheck) -> list[tuple[str, list[str]]]:
    """A divergence's own witnesses (tests whose expected-failure reason names it), each
    with the other divergences of its backend that its reason names too."""
    return [(test, [c.id for c in report.divergences
                    if c.backend == check.backend and c.id != check.id and test in c.named])
            for test in check.named]


def traceback_tail(result: TestResult) -> str:
    """The end of a failure's traceback, without the notes shown above it."""
    return _tail(without_notes(result.failure, result.notes))


def without_notes(failure: str, notes: list[str]) -> str:
    """The failure text up to where the exception's notes (shown above it) begin."""
    lines = failure.splitlines()
    first = notes[0].strip().splitlines()[0] if notes and notes[0].strip() else None
    if first is None:
        return failure
    for i, line in enumerate(lines):
        if line.startswith("E") and line.rstrip().endswith(first):
            return "\n".join(lines[:i])
    return failure


def _tail(text: str) -> str:
    lines = text.rstrip().splitlines()
    if len(lines) <= MAX_FAILURE_LINES:
        return "\n".join(lines)
    return "\n".join([f"... ({plural(len(lines) - MAX_FAILURE_LINES, 'line')} cut)",
                      *lines[-MAX_FAILURE_LINES:]])
