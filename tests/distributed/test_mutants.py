"""The two deliberately wrong multi-process backends of mutants.py are caught: by the
direct checks against the reference, and by the conformance suite's quick profile
run through the multi-process runner."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from embedspec.conformance.checks.case import World
from embedspec.conformance.distributed import PoolRunner
from embedspec.reference.configs import ShardedConfig, VocabParallelConfig

from . import checks
from .conftest import ROOT

VOCAB = VocabParallelConfig(10, 3, org_num_embeddings=8, padding_size=4)
NORM = ShardedConfig(9, 6, max_norm=1.0)


@pytest.fixture(scope="module")
def silent_zero() -> Iterator[PoolRunner]:
    with PoolRunner("tests.distributed.mutants:SilentZeroVocabBackend", timeout_s=60) as runner:
        yield runner


@pytest.fixture(scope="module")
def local_norm() -> Iterator[PoolRunner]:
    with PoolRunner("tests.distributed.mutants:LocalNormShardedBackend", timeout_s=60) as runner:
        yield runner


def test_silent_zeroing_of_out_of_range_ids_is_caught(silent_zero: PoolRunner,
                                                      distributed_runner: PoolRunner) -> None:
    bad = torch.tensor([[1, 10], [-1, 3]])
    problems = checks.vocab_parallel(silent_zero, VOCAB, 2, bad)
    assert problems and "expected IndexError, but no error was raised" in problems[0]
    assert checks.vocab_parallel(distributed_runner, VOCAB, 2, bad) == []
    # The mutant is wrong only there: in-range ids and one rank pass the same check.
    assert checks.vocab_parallel(silent_zero, VOCAB, 2, torch.tensor([1, 9])) == []
    assert checks.vocab_parallel(silent_zero, VOCAB, 1, bad) == []


def test_a_max_norm_of_the_local_shard_only_is_caught(local_norm: PoolRunner,
                                                      distributed_runner: PoolRunner) -> None:
    ids = [torch.tensor([[0, 4], [4, 7]])]
    problems = checks.sharded(local_norm, NORM, World(2), ids)
    assert problems and "stored table after the max_norm renorm" in problems[0]
    assert checks.sharded(distributed_runner, NORM, World(2), ids) == []
    assert checks.sharded(local_norm, NORM, World(1), ids) == []
    assert checks.sharded(local_norm, NORM.replace(max_norm=None), World(2), ids) == []


# Shrinking a failing example re-runs the case hundreds of times through the workers,
# so the sharded mutant's run stops at its first failure (-x) among the max_norm tests.
QUICK_RUNS = [
    ("SilentZeroVocabBackend", "vocab_parallel", [], "errors"),
    ("LocalNormShardedBackend", "sharded and max_norm", ["-x"], "max_norm"),
]


@pytest.mark.parametrize(("mutant", "selection", "extra", "feature"), QUICK_RUNS,
                         ids=[run[0] for run in QUICK_RUNS])
def test_the_quick_profile_catches_the_mutant(mutant: str, selection: str, extra: list[str],
                                              feature: str, tmp_path: Path) -> None:
    family = selection.split()[0]
    if not list((ROOT / "conformance").glob(f"test_{family}*.py")):
        pytest.skip(f"the conformance suite has no {family} tests yet")
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "pytest", "-p", "embedspec.conformance.plugin",
               "--pyargs", "embedspec.conformance",
               "--embedspec-backend", f"tests.distributed.mutants:{mutant}",
               "--embedspec-profile", "quick", "-q", "-p", "no:cacheprovider",
               "-k", selection, "--embedspec-results", str(results), *extra]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    tests = json.loads(results.read_text())["tests"]
    failed = [t for t in tests if t["outcome"] == "failed"]
    assert failed, done.stdout[-3000:]
    assert {(t["family"], t["feature"]) for t in failed} == {(family, feature)}, failed
