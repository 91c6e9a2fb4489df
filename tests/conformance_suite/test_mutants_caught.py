"""The conformance suite catches real bugs: each deliberately wrong backend of
``tests/conformance_suite/mutants`` fails the quick profile, in the feature whose rule it
breaks, while the eager backend passes the same selection.

Each run is ``python -m pytest --pyargs embedspec.conformance`` in a subprocess (one
backend per session), restricted with the mutants' selection plugin to the features
concerned and to float32 (the broken rules do not depend on the dtype), with shrinking
off, so the whole module takes well under two minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from embedspec.conformance.session.results import load_results

ROOT = Path(__file__).resolve().parents[2]
MUTANTS_PACKAGE = "tests.conformance_suite.mutants"
RUN_TIMEOUT_S = 240


@dataclass(frozen=True)
class Mutant:
    """A wrong backend (``module:Class`` in the mutants package) and the features
    (``family/feature``) each of which must catch it."""

    backend: str
    caught_in: tuple[str, ...]

    @property
    def spec(self) -> str:
        return f"{MUTANTS_PACKAGE}.{self.backend}"


MUTANTS: tuple[Mutant, ...] = (
    Mutant("padding_grad:PaddingGradBackend",
           ("embedding/padding_idx", "sharded/padding_idx")),
    Mutant("renorm_unreferenced:RenormAllRowsBackend",
           ("embedding/max_norm", "sharded/max_norm")),
    Mutant("freq_scaling:TotalCountScalingBackend",
           ("embedding/scale_grad_by_freq", "sharded/scale_grad_by_freq")),
    Mutant("clamped_ids:ClampedIdsBackend",
           ("embedding/errors", "vocab_parallel/errors", "sharded/errors")),
    Mutant("msb_first_packing:MsbFirstPackingBackend", ("binary/packed",)),
    Mutant("unmapped_added_ids:UnmappedAddedIdsBackend", ("vocab_parallel/added_vocab",)),
    Mutant("accepts_bool_padding:AcceptsBoolPaddingBackend",
           ("embedding/errors", "stable/errors", "binary/errors")),
    Mutant("list_ids:ListIdsBackend", ("embedding/errors", "stable/errors", "binary/errors")),
    Mutant("reset_normal:ResetNormalBackend", ("embedding/init",)),
    Mutant("binary_padding_init:BinaryPaddingInitBackend", ("binary/init",)),
    Mutant("vocab_padding_init:VocabPaddingInitBackend", ("vocab_parallel/init",)),
    Mutant("sharded_init_scheme:ShardedInitSchemeBackend", ("sharded/init",)),
    Mutant("sharded_renorm_at_equality:ShardedRenormAtEqualityBackend", ("sharded/max_norm",)),
    Mutant("mapping_at_world_one:MappingAtWorldOneBackend", ("vocab_parallel/weight_loader",)),
    Mutant("stable_dense_gradient:StableDenseGradientBackend", ("stable/backward",)),
    Mutant("positive_zero_padding:PositiveZeroPaddingBackend", ("embedding/padding_idx",)),
    Mutant("data_dependent_branch:DataDependentBranchBackend", ("embedding/compile",)),
    Mutant("plain_tangent:PlainTangentBackend", ("embedding/forward_ad",)),
)


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    failed: dict[str, set[str]]  # family/feature -> failed test ids
    outcomes: dict[str, str]  # test id -> outcome


def run_suite(backend: str, features: set[str], tmp_path: Path) -> Run:
    """The quick profile on ``backend`` restricted to ``features`` and float32."""
    results = tmp_path / f"results-{abs(hash(backend))}.json"
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "embedspec.conformance",
        "-p", "embedspec.conformance.plugin", "-p", f"{MUTANTS_PACKAGE}.selection",
        "--embedspec-backend", backend, "--embedspec-profile", "quick",
        "--embedspec-results", str(results),
        "--spec-features", ",".join(sorted(features)), "--spec-dtypes", "float32",
        "-q", "-p", "no:cacheprovider", "--no-header", "-rN", "--tb=no",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, check=False)
    output = done.stdout + done.stderr
    if not results.exists():
        pytest.fail(f"the run on {backend} wrote no results (exit {done.returncode}):\n{output}")
    failed: dict[str, set[str]] = {}
    outcomes = {}
    for test in load_results(results).tests:
        outcomes[test.id] = test.outcome
        if test.outcome in ("failed", "error"):
            failed.setdefault(f"{test.family}/{test.feature}", set()).add(test.id)
    return Run(done.returncode, output, failed, outcomes)


def assert_caught(mutant: Mutant, spec: str, tmp_path: Path) -> None:
    """The quick profile on ``spec`` fails in each of ``mutant.caught_in``, no test erroring."""
    run = run_suite(spec, set(mutant.caught_in), tmp_path)
    assert run.returncode != 0, f"{mutant.backend} passed the suite:\n{run.output}"
    missed = [feature for feature in mutant.caught_in if feature not in run.failed]
    assert not missed, (f"{mutant.backend} was not caught by {missed}; failures: "
                        f"{run.failed}\n{run.output}")
    errors = sorted(t for t, outcome in run.outcomes.items() if outcome == "error")
    assert not errors, f"tests errored instead of failing: {errors}\n{run.output}"


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.backend.split(":")[0])
def test_mutant_is_caught_in_its_feature(mutant: Mutant, tmp_path: Path) -> None:
    assert_caught(mutant, mutant.spec, tmp_path)


def test_eager_passes_the_same_selection(tmp_path: Path) -> None:
    features = {feature for mutant in MUTANTS for feature in mutant.caught_in}
    run = run_suite("eager", features, tmp_path)
    assert run.returncode == 0, f"eager fails the mutants' selection: {run.failed}\n{run.output}"
    ran = {t for t, outcome in run.outcomes.items() if outcome == "passed"}
    assert ran, f"the selection ran no test:\n{run.output}"
