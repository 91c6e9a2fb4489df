"""The conformance pytest plugin, exercised on a throwaway suite in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TOY_BACKEND = '''
import torch
from embedspec.backends.contract import Availability, Backend, Capabilities


class ToyBackend(Backend):
    name = "toy"
    description = "torch.nn.Embedding for the plugin tests"

    @property
    def version(self):
        return "7.7"

    def availability(self):
        return Availability.yes()

    def capabilities(self):
        return Capabilities.declare({
            "embedding": {"features": ["forward", "padding_idx"],
                          "dtypes": ["float32", "float64"]},
            "sharded": {"features": ["forward", "even_partition", "data_parallel"]}})

    def build(self, config, context):
        return torch.nn.Embedding(config.num_embeddings, config.embedding_dim,
                                  padding_idx=config.padding_idx, dtype=config.dtype)
'''

SUITE = '''
import os

import pytest
import torch
from hypothesis import given, strategies as st

from embedspec.conformance.checks import Case, World
from embedspec.reference.configs import EmbeddingConfig


@pytest.mark.spec("embedding", "forward")
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@given(n=st.integers(1, 1000))
def test_gather(runner, device, dtype, n):
    with open(os.environ["DRAWN"], "a") as f:
        f.write(f"{dtype} {n} {torch.rand(()).item()}\\n")
    config = EmbeddingConfig(n, 3, dtype=getattr(torch, dtype))
    weight = torch.randn(n, 3, dtype=config.dtype)
    (outcome,) = runner.run(Case(config, states=[{"weight": weight}],
                                 inputs=[torch.arange(n)], device=device))
    assert torch.equal(outcome.output, weight)


@pytest.mark.spec("embedding", "padding_idx")
def test_fails_with_repro():
    error = AssertionError("padding row differs\\nsecond line")
    error.add_note("REPRO SNIPPET")
    raise error


@pytest.mark.spec("embedding", "padding_idx")
def test_known_failure():
    assert False, "still broken"


@pytest.mark.spec("embedding", "padding_idx")
def test_known_failure_now_fixed():
    pass


@pytest.mark.spec(family="embedding", feature="max_norm")
def test_undeclared_feature():
    raise AssertionError("must not run")


def test_without_marker():
    pass


@pytest.mark.spec("embedding", "no_such_feature")
def test_unknown_feature():
    pass


@pytest.mark.spec("embedding", "forward")
def test_fixtures(backend, backend_spec, profile, worlds, seed, target):
    assert backend.name == "toy" and backend_spec == "toy_backend:ToyBackend"
    assert profile.name == "quick" and seed == int(os.environ["SEED"])
    assert worlds == (World(1),)
    assert target.backend is backend and target.backend_spec == backend_spec


@pytest.mark.spec("sharded", "forward")
def test_one_rank_world(worlds):
    assert worlds == (World(1),)


@pytest.mark.spec("sharded", "even_partition", min_ranks=2)
def test_needs_two_ranks(worlds):
    raise AssertionError("must not run")


@pytest.mark.spec("sharded", "data_parallel")
def test_needs_a_grid(worlds):
    raise AssertionError("must not run")
'''

PASSING = "suite/test_toy.py::test_known_failure_now_fixed"
FAILING = "suite/test_toy.py::test_known_failure"


@pytest.fixture
def suite(tmp_path) -> Path:
    (tmp_path / "toy_backend.py").write_text(textwrap.dedent(TOY_BACKEND))
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "conftest.py").write_text(
        'pytest_plugins = ("embedspec.conformance.plugin",)\n')
    (tmp_path / "suite" / "test_toy.py").write_text(textwrap.dedent(SUITE))
    (tmp_path / "expectations.json").write_text(json.dumps({"backend": "toy", "entries": [
        {"test": FAILING, "status": "xfail", "reason": "known: padding rows"},
        {"test": PASSING, "status": "xfail", "reason": "was broken"},
        {"test": "suite/test_toy.py::test_removed", "status": "xfail", "reason": "old"},
    ]}))
    return tmp_path


def _pytest(suite: Path, *args: str, seed: int = 0) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(suite), DRAWN=str(suite / "drawn.txt"), SEED=str(seed))
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p",
               "embedspec.conformance.plugin", "--rootdir", str(suite), "-c", os.devnull,
               "suite", "--embedspec-backend", "toy_backend:ToyBackend",
               "--embedspec-profile", "quick", "--embedspec-seed", str(seed), *args]
    return subprocess.run(command, cwd=suite, env=env, capture_output=True, text=True,
                          timeout=300)


def test_outcomes_results_json_and_summary(suite):
    run = _pytest(suite, "--embedspec-expectations", "expectations.json",
                  "--embedspec-results", "out/results.json")
    assert run.returncode == 1, run.stdout
    data = json.loads((suite / "out" / "results.json").read_text())
    outcomes = {t["id"].removeprefix("suite/test_toy.py::"): t for t in data["tests"]}
    assert {k: v["outcome"] for k, v in outcomes.items()} == {
        "test_gather[float32]": "passed",
        "test_gather[float64]": "passed",
        "test_gather[float16]": "unsupported",
        "test_fails_with_repro": "failed",
        "test_known_failure": "xfailed",
        "test_known_failure_now_fixed": "xpassed",
        "test_undeclared_feature": "unsupported",
        "test_without_marker": "error",
        "test_unknown_feature": "error",
        "test_fixtures": "passed",
        "test_one_rank_world": "passed",
        "test_needs_two_ranks": "skipped",
        "test_needs_a_grid": "skipped",
    }
    assert outcomes["test_needs_two_ranks"]["message"] == (
        "no world of this run fits sharded / even_partition with at least 2 ranks")
    assert outcomes["test_needs_a_grid"]["message"] == (
        "no world of this run fits sharded / data_parallel")
    gather16 = outcomes["test_gather[float16]"]
    assert (gather16["family"], gather16["feature"], gather16["dtype"], gather16["device"]) == (
        "embedding", "forward", "float16", "cpu")
    assert gather16["message"] == "unsupported: embedding / forward / float16 / cpu"
    failed = outcomes["test_fails_with_repro"]
    assert failed["message"] == "AssertionError: padding row differs"
    assert failed["notes"] == ["REPRO SNIPPET"]
    assert "REPRO SNIPPET" in failed["failure"] and "second line" in failed["failure"]
    assert "test_toy.py:" in failed["failure"]  # the test's own frame, without pytest's
    assert "_pytest" not in failed["failure"] and "pluggy" not in failed["failure"]
    assert outcomes["test_known_failure"]["message"] == "known: padding rows"
    assert "spec(family, feature)" in outcomes["test_without_marker"]["message"]
    assert "unknown feature 'no_such_feature'" in outcomes["test_unknown_feature"]["message"]
    assert all(t["duration_s"] >= 0 for t in data["tests"])

    header = data["header"]
    assert header["backend"] == {"name": "toy", "spec": "toy_backend:ToyBackend",
                                 "version": "7.7", "multi_process": False,
                                 "description": "torch.nn.Embedding for the plugin tests"}
    assert (header["profile"], header["seed"], header["device"]) == ("quick", 0, "cpu")
    assert set(header["versions"]) == {"python", "torch", "embedspec", "hypothesis"}
    assert header["machine"]["cpu_count"] == os.cpu_count()
    assert data["stale_expectations"] == ["suite/test_toy.py::test_removed"]
    assert data["summary"]["xpassed"] == 1 and data["exit_status"] == 1
    assert not (suite / "out" / "results.json.partial").exists()

    summary = run.stdout.split("embedspec conformance", 1)[1]
    assert "expected failures that passed (1)" in summary and PASSING in summary
    assert "stale expectations" in summary and "suite/test_toy.py::test_removed" in summary


def test_seed_fixes_the_examples_and_changes_them(suite):
    def drawn(seed: int) -> str:
        (suite / "drawn.txt").unlink(missing_ok=True)
        _pytest(suite, "-k", "gather", seed=seed)
        return (suite / "drawn.txt").read_text()

    first, again, other = drawn(0), drawn(0), drawn(1)
    assert first and first == again
    assert first != other
    assert len(first.splitlines()) <= 2 * 8  # two supported dtypes, quick max_examples


def test_accept_rewrites_the_expectations_file(suite):
    run = _pytest(suite, "--embedspec-expectations", "expectations.json", "--embedspec-accept")
    assert "expectations written to expectations.json" in run.stdout
    entries = {e["test"]: e["reason"] for e in
               json.loads((suite / "expectations.json").read_text())["entries"]}
    assert entries == {
        FAILING: "known: padding rows",
        "suite/test_toy.py::test_fails_with_repro": "accepted: AssertionError: padding row "
                                                    "differs",
    }
    rerun = _pytest(suite, "--embedspec-expectations", "expectations.json", "-k",
                    "test_known_failure or repro")
    assert rerun.returncode == 0, rerun.stdout


@pytest.mark.parametrize("args, message", [
    (["--embedspec-expectations", "broken.json"], "broken.json: not valid JSON"),
    (["--embedspec-expectations", "absent.json"], "expectations file absent.json does not exist"),
    (["--embedspec-expectations", "other.json"], "lists the expectations of backend 'other'"),
    (["--embedspec-accept"], "--embedspec-accept needs --embedspec-expectations PATH"),
    (["--embedspec-backend", "toy_backend:Missing"], "has no attribute 'Missing'"),
])
def test_usage_errors_are_clear(suite, args, message):
    (suite / "broken.json").write_text("{")
    (suite / "other.json").write_text('{"backend": "other", "entries": []}')
    run = _pytest(suite, *args)
    assert run.returncode == 4
    assert message in run.stderr
