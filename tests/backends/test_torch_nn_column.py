"""The ``torch_nn`` column of the compatibility report departs from the spec exactly
where docs/spec/divergences.md says: every documented divergence shows, every failure
is explained by one, and each expected failure in the backend's expectations file
names the divergences behind it."""

from __future__ import annotations

import io
from pathlib import Path

from embedspec.backends.torch_nn.divergences import DIVERGENCES, by_id
from embedspec.conformance.report.model import build_report
from embedspec.conformance.report.runs import run_backend
from embedspec.conformance.session.expectations import EXPECTATIONS_DIR, load_expectations


def test_torch_nn_fails_exactly_its_documented_divergences(tmp_path: Path) -> None:
    log = io.StringIO()
    run = run_backend("torch_nn", profile="quick", device="cpu", seed=0, timeout_s=900,
                      results=tmp_path / "torch_nn.json", out=log)
    assert run.status == "ok", run.message + log.getvalue()[-2000:]
    counts = run.results.counts()
    assert counts.get("failed", 0) == 0 and counts.get("xpassed", 0) == 0, counts
    assert counts.get("xfailed", 0) > 0, counts
    report = build_report([run], profile="quick", seed=0, device="cpu", versions={},
                          machine={}, tolerance=None, generated="",
                          divergences={"torch_nn": DIVERGENCES})
    not_shown = [check.id for check in report.divergences if not check.shown]
    assert not_shown == [], f"documented divergences the run does not show: {not_shown}"
    unexplained = [result.id for result in report.undocumented["torch_nn"]]
    assert unexplained == [], f"failures no documented divergence explains: {unexplained}"
    witnessed_alone = {result.message.split(" ")[0] for result in run.results.tests
                       if result.outcome == "xfailed" and "; " not in result.message}
    missing = sorted({d.id for d in DIVERGENCES} - witnessed_alone)
    assert missing == [], f"divergences without a failing test of their own: {missing}"


def test_torch_nn_expectations_name_applicable_divergences() -> None:
    expectations = load_expectations(EXPECTATIONS_DIR / "torch_nn.json")
    assert expectations.entries
    for test_id, entry in expectations.entries.items():
        named = [part.split(" ")[0] for part in entry.reason.split("; ")]
        assert named, test_id
        for divergence_id in named:
            by_id(divergence_id)  # KeyError: the reason names no documented divergence
