"""The quick profile catches the deliberately wrong Triton backends in their own feature,
while the real backends pass the same selection (float32, no shrinking; see
``tests/conformance_suite/test_mutants_caught.py``, whose runner this reuses)."""

from __future__ import annotations

from pathlib import Path

import pytest

# tests/ is on sys.path (pytest's rootdir insertion: it has no __init__.py), so the
# conformance-suite tests are the package ``conformance_suite``.
from conformance_suite.test_mutants_caught import run_suite

MUTANTS = "tests.backends.triton.mutants"
CASES = [
    (f"{MUTANTS}.column_tail:DroppedColumnTailBackend", "triton", "embedding/forward"),
    (f"{MUTANTS}.last_segment:DroppedLastSegmentBackend", "triton-deterministic",
     "embedding/backward"),
]


@pytest.mark.parametrize(("mutant", "real", "feature"), CASES,
                         ids=["column_tail", "last_segment"])
def test_mutant_is_caught_in_its_feature(mutant: str, real: str, feature: str,
                                         tmp_path: Path) -> None:
    run = run_suite(mutant, {feature}, tmp_path)
    assert run.returncode != 0, f"{mutant} passed the suite:\n{run.output}"
    assert feature in run.failed, f"{mutant} was not caught by {feature}: {run.failed}"
    errors = sorted(t for t, outcome in run.outcomes.items() if outcome == "error")
    assert not errors, f"tests errored instead of failing: {errors}\n{run.output}"
    baseline = run_suite(real, {feature}, tmp_path)
    assert baseline.returncode == 0, f"{real} fails {feature}: {baseline.failed}"
    assert "passed" in baseline.outcomes.values(), baseline.output
