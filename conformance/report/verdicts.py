"""The verdict of a report cell, and what a cell says about its dtypes and its skips.

A cell (one backend's tests of one family x feature) has one verdict, the first that
applies of

* ``failing``: a test failed, errored, or an expected failure passed;
* ``stopped``: the run crashed, timed out or was interrupted before some of the row's
  tests finished;
* ``expected``: a test failed as the backend's expectations file says (the reason
  names the documented divergence, e.g. ``D-index-dtype``, when there is one);
* ``conforming``: tests passed (others may be unsupported or skipped);
* ``unsupported``: every test was skipped because the backend does not declare the
  capability;
* ``not_run``: no test of the row ran (none exist, or all were skipped for another
  reason).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from embedspec.backends.contract import DTYPES

#: verdict -> the label of the legend, in order of precedence.
VERDICTS: dict[str, str] = {
    "failing": "failing",
    "stopped": "crashed / timed out / interrupted",
    "expected": "expected failure",
    "conforming": "conforming",
    "unsupported": "unsupported",
    "not_run": "not run",
}
#: What each verdict means, for the legends of the page and the Markdown.
VERDICT_MEANINGS: dict[str, str] = {
    "failing": "a test failed, errored, or an expected failure passed (the expectations file "
               "is out of date)",
    "stopped": "the backend's run crashed, timed out or was interrupted before some of "
               "this row's tests finished",
    "expected": "tests fail as the backend's expectations file says, with its reason and the "
                "documented divergence it names",
    "conforming": "the tests that ran passed (others may be unsupported or skipped)",
    "unsupported": "the backend does not declare this capability",
    "not_run": "no test of this row ran here",
}
UNEXPECTED = ("failed", "error", "xpassed")
#: The outcomes a cell's text counts, with their short mark.
MARKS = {"passed": "✓", "failed": "✗", "error": "err", "xpassed": "xpass", "xfailed": "xfail",
         "unsupported": "unsup", "skipped": "skip"}
_DIVERGENCE_ID = re.compile(r"\bD-[a-z0-9]+(?:-[a-z0-9]+)*")


def verdict(counts: Mapping[str, int], run_status: str) -> str:
    """The verdict of a cell with outcome ``counts`` whose run ended ``run_status``
    ("ok", "crash", "timeout" or "interrupted")."""
    if any(counts.get(o, 0) for o in UNEXPECTED):
        return "failing"
    if run_status != "ok":
        return "stopped"
    if counts.get("xfailed", 0):
        return "expected"
    if counts.get("passed", 0):
        return "conforming"
    if counts.get("unsupported", 0):
        return "unsupported"
    return "not_run"


def divergence_ids(text: str) -> list[str]:
    """The documented divergence ids (``D-...``) a reason names, in order, once each."""
    return list(dict.fromkeys(_DIVERGENCE_ID.findall(text)))


def dtype_order(dtypes: Iterable[str]) -> list[str]:
    """``dtypes`` in the order of :data:`DTYPES`, others after them by name."""
    known = [d for d in DTYPES if d in dtypes]
    return known + sorted(set(dtypes) - set(known))


def dtypes_by_outcome(by_dtype: Mapping[str, Mapping[str, int]]) -> dict[str, list[str]]:
    """outcome -> the dtypes with at least one test of that outcome, for a cell's
    per-dtype ``{dtype: {outcome: n}}``."""
    found: dict[str, list[str]] = {}
    for dtype in dtype_order(by_dtype):
        for outcome, n in by_dtype[dtype].items():
            if n:
                found.setdefault(outcome, []).append(dtype)
    return found


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 failing test``, ``2 failing tests``."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"
