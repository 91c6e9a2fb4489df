"""The built-in backends that claim the spec pass the quick conformance profile with no
unexpected result: ``embedspec check`` exits 0 and the run passed tests of every family
the backend declares."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from embedspec.backends.registry import load_backend
from embedspec.conformance.session.results import load_results


@pytest.mark.parametrize("backend", ["eager", "reference", "distributed", "native",
                                     "distributed-native"])
def test_backend_passes_the_quick_profile(backend: str, tmp_path: Path) -> None:
    results = tmp_path / f"{backend}.json"
    run = subprocess.run(
        [sys.executable, "-m", "embedspec.conformance.cli", "check", "--backend", backend,
         "--profile", "quick", "--results", str(results), "--quiet", "--", "--tb=short"],
        capture_output=True, text=True, timeout=1200, check=False, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    outcomes = load_results(results)
    counts = outcomes.counts()
    assert counts["failed"] == counts["error"] == counts["xpassed"] == 0, counts
    passed_families = {t.family for t in outcomes.tests if t.outcome == "passed"}
    assert passed_families == set(load_backend(backend).capabilities().families())
