"""The conformance suite catches wrong native kernels: each variant of
``tests/backends/native/mutants`` fails the quick profile (float32, its features only) in
the feature whose rule it breaks, while the native backend passes the same selection.
The variants compile once into the cache (one small source, about 15 s)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conformance_suite.test_mutants_caught import Mutant, assert_caught, run_suite

PACKAGE = "tests.backends.native.mutants"

NATIVE_MUTANTS: tuple[Mutant, ...] = (
    Mutant("OffByOneBoundsBackend", ("embedding/errors",)),
    Mutant("IgnoredStridesBackend", ("embedding/forward", "sharded/forward")),
    Mutant("Bfloat16FactorBackend", ("embedding/max_norm",)),
)


@pytest.mark.parametrize("mutant", NATIVE_MUTANTS, ids=lambda m: m.backend)
def test_native_mutant_is_caught_in_its_feature(mutant: Mutant, tmp_path: Path) -> None:
    assert_caught(mutant, f"{PACKAGE}:{mutant.backend}", tmp_path)


def test_native_passes_the_same_selection(tmp_path: Path) -> None:
    features = {feature for mutant in NATIVE_MUTANTS for feature in mutant.caught_in}
    run = run_suite("native", features, tmp_path)
    assert run.returncode == 0, f"native fails the mutants' selection: {run.failed}\n{run.output}"
    assert any(outcome == "passed" for outcome in run.outcomes.values()), run.output
