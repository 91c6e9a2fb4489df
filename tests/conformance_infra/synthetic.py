"""Synthetic run results for the report tests."""

from __future__ import annotations

from dataclasses import dataclass

from embedspec.conformance.report.model import BackendRun
from embedspec.conformance.session.results import RunHeader, RunResults, TestRef, TestResult

REPRO = "python -c 'import embedspec  # repro of max_norm'"


def header(backend: str, version: str = "1.0") -> RunHeader:
    return RunHeader(
        backend={"name": backend, "spec": backend, "version": version, "description": "",
                 "multi_process": False},
        profile="quick", seed=0, device="cpu",
        versions={"python": "3.11.7", "torch": "2.13.0", "embedspec": "0.1.0",
                  "hypothesis": "6.170.15"},
        machine={"platform": "Linux-test", "architecture": "x86_64", "cpu_count": 2},
        tolerance="gathers are exact",
    )


def result(test: str, family: str | None, feature: str | None, outcome: str,
           dtype: str = "float32", **kwargs) -> TestResult:
    return TestResult(id=test, family=family, feature=feature, dtype=dtype, device="cpu",
                      outcome=outcome, duration_s=0.01, **kwargs)


def ok_run() -> BackendRun:
    """eager: mostly passing, one failure with a repro note, one expected failure."""
    tests = [
        result("test_embedding_forward.py::test_gather[float32]", "embedding", "forward",
               "passed"),
        result("test_embedding_forward.py::test_gather[float64]", "embedding", "forward",
               "passed", dtype="float64"),
        result("test_embedding_max_norm.py::test_renorm[float16]", "embedding", "max_norm",
               "failed", dtype="float16", message="AssertionError: rows differ",
               failure="E   AssertionError: rows differ\nE   " + REPRO, notes=[REPRO]),
        result("test_embedding_max_norm.py::test_renorm[float32]", "embedding", "max_norm",
               "passed"),
        result("test_embedding_sparse.py::test_sparse[float32]", "embedding", "sparse",
               "xfailed", message="sparse gradients are coalesced differently"),
        result("test_binary_packed.py::test_layout[float32]", "binary", "packed",
               "unsupported", message="unsupported: binary / packed / float32 / cpu"),
        result("test_embedding_errors.py::test_ids[float32]", "embedding", "errors",
               "xpassed", message="expected to fail (old bug) but passed"),
    ]
    return BackendRun("eager", "ok", RunResults(header("eager", "0.1.0"), tests,
                                                stale_expectations=["test_gone.py::test_x"],
                                                duration_s=3.5, exit_status=1),
                      duration_s=4.0)


def crashed_run() -> BackendRun:
    """distributed: crashed in vocab_parallel/forward after one test passed."""
    results = RunResults(
        header("distributed", "0.2.0"),
        [result("test_vocab_parallel_forward.py::test_a", "vocab_parallel", "forward",
                "passed")],
        complete=False,
        pending=[TestRef("test_vocab_parallel_forward.py::test_b", "vocab_parallel", "forward",
                         "float32"),
                 TestRef("test_vocab_parallel_forward.py::test_c", "vocab_parallel", "forward",
                         "float32")],
        running="test_vocab_parallel_forward.py::test_b",
    )
    return BackendRun("distributed", "crash", results, message="the run was killed by SIGSEGV",
                      duration_s=2.0, output_tail="Fatal Python error: Segmentation fault\n")


def timed_out_run() -> BackendRun:
    """slow: recorded nothing before its time limit."""
    return BackendRun("slow", "timeout", None, version="9.9",
                      message="no result after 5 s; the run was stopped", duration_s=5.0)


@dataclass(frozen=True)
class Divergence:
    """A documented divergence, shaped like ``embedspec.backends.torch_nn.DIVERGENCES``."""

    id: str
    rule: str
    description: str
    rows: tuple[tuple[str, str], ...]
    dtypes: tuple[str, ...] = ()

    def applies_to(self, family: str, feature: str, dtype: str) -> bool:
        return (family, feature) in self.rows and (not self.dtypes or dtype in self.dtypes)
