"""The compatibility report: aggregation, Markdown, JSON, on synthetic results."""

from __future__ import annotations

import json
import re

from embedspec.backends.contract import FEATURES
from embedspec.conformance.report import build_report, render_markdown, report_to_json
from embedspec.conformance.report.markdown import (
    expected_anchor,
    failure_anchor,
    skips_anchor,
    stopped_anchor,
)
from embedspec.conformance.report.model import UNMARKED

from .synthetic import REPRO, Divergence, crashed_run, ok_run, result, timed_out_run

DIVERGENCES = {"eager": (
    Divergence("D-renorm-half", "S1.2", "renorm in float16 differs",
                (("embedding", "max_norm"),), ("float16",)),
    Divergence("D-never-seen", "S0.3", "ids wrap around", (("embedding", "errors"),)),
)}


def _report(runs=None, not_run=()):
    runs = runs if runs is not None else [ok_run(), crashed_run(), timed_out_run()]
    return build_report(
        runs, profile="quick", seed=7, device="cpu",
        versions={"python": "3.11.7", "torch": "2.13.0", "embedspec": "0.1.0",
                  "hypothesis": "6.170.15"},
        machine={"platform": "Linux-test", "architecture": "x86_64", "cpu_count": 2},
        tolerance="TOLERANCE POLICY TEXT", generated="2026-01-01 00:00 UTC",
        not_run=not_run, divergences=DIVERGENCES)


def test_rows_are_every_feature_in_order_and_columns_the_runs():
    report = _report()
    expected_rows = [(f, feat) for f, feats in FEATURES.items() for feat in feats]
    assert report.rows == expected_rows
    assert [c.backend for c in report.columns] == ["eager", "distributed", "slow"]


def test_cells_count_outcomes_per_family_and_feature():
    report = _report()
    forward = report.cell(("embedding", "forward"), "eager")
    assert forward.counts["passed"] == sum(forward.counts.values()) == 2
    max_norm = report.cell(("embedding", "max_norm"), "eager")
    assert (max_norm.counts["passed"], max_norm.counts["failed"]) == (1, 1)
    assert [r.id for r in max_norm.failing] == ["test_embedding_max_norm.py::test_renorm[float16]"]
    sparse = report.cell(("embedding", "sparse"), "eager")
    assert sparse.counts["xfailed"] == 1 and [r.id for r in sparse.expected] == [
        "test_embedding_sparse.py::test_sparse[float32]"]
    assert report.cell(("binary", "packed"), "eager").counts["unsupported"] == 1
    xpass = report.cell(("embedding", "errors"), "eager")
    assert xpass.counts["xpassed"] == 1 and len(xpass.failing) == 1
    assert report.columns[0].counts["passed"] == 3
    assert report.columns[0].stale_expectations == ["test_gone.py::test_x"]


def test_crash_marks_the_rows_with_unfinished_tests_and_keeps_finished_counts():
    report = _report()
    cell = report.cell(("vocab_parallel", "forward"), "distributed")
    assert cell.run_status == "crash"
    assert cell.counts["passed"] == 1 and cell.pending == 2
    assert report.cell(("embedding", "forward"), "distributed").run_status == "ok"
    column = report.columns[1]
    assert column.running == "test_vocab_parallel_forward.py::test_b"


def test_timeout_without_results_marks_every_row():
    report = _report()
    assert all(report.cell(row, "slow").run_status == "timeout" for row in report.rows)
    assert report.columns[2].version == "9.9"


def test_unmarked_tests_get_their_own_row():
    run = ok_run()
    run.results.tests.append(result("test_x.py::test_unmarked", None, None, "error"))
    report = _report([run])
    assert report.rows[-1] == UNMARKED
    assert report.cell(UNMARKED, "eager").counts["error"] == 1


def test_markdown_header_has_versions_machine_profile_seed_and_tolerance():
    md = render_markdown(_report())
    assert md.startswith("# embedspec compatibility report")
    for text in ("profile **quick**", "seed **7**", "device **cpu**", "3.11.7", "2.13.0",
                 "0.1.0", "6.170.15", "Linux-test, x86_64, 2 CPUs", "TOLERANCE POLICY TEXT",
                 "| eager backend", "| distributed backend", "0.2.0"):
        assert text in md, text
    assert "Each cell counts" in md  # the legend


def _table_row(md: str, family: str, feature: str) -> list[str]:
    """The cells after (family, feature) of that row of the compatibility table."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == [family, feature]:
            return cells[2:]
    raise AssertionError(f"no table row {family} / {feature}")


def test_markdown_table_cells_and_links():
    md = render_markdown(_report())
    eager, distributed, slow = _table_row(md, "embedding", "max_norm")
    assert eager == (f"1 ✓ (float32), [1 ✗ (float16)]"
                     f"(#{failure_anchor('eager', ('embedding', 'max_norm'))})")
    assert distributed == "·"
    assert slow == f"[**timeout**](#{stopped_anchor('slow')})"
    assert _table_row(md, "embedding", "sparse")[0] == (
        f"[1 xfail](#{expected_anchor('eager', ('embedding', 'sparse'))})")
    assert _table_row(md, "embedding", "errors")[0] == (
        f"[1 xpass](#{failure_anchor('eager', ('embedding', 'errors'))})")
    assert _table_row(md, "binary", "packed")[0] == (
        f"[1 unsup](#{skips_anchor('eager', ('binary', 'packed'))})")
    assert _table_row(md, "vocab_parallel", "forward")[1] == (
        f"1 ✓, [**crash**](#{stopped_anchor('distributed')}) (2 not run)")


def test_every_link_resolves_to_an_anchor_in_the_document():
    md = render_markdown(_report())
    targets = set(re.findall(r"\]\(#([^)]+)\)", md))
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', md))
    assert targets, "the report links its failing cells"
    assert targets <= anchors


def test_failures_section_lists_failing_tests_with_their_repro():
    md = render_markdown(_report())
    failures = md.split("## Failures", 1)[1].split("\n## ", 1)[0]
    section = failures.split(f'<a id="{failure_anchor("eager", ("embedding", "max_norm"))}"></a>',
                            1)[1]
    assert "`test_embedding_max_norm.py::test_renorm[float16]` (failed): AssertionError" in section
    assert section.split("<a id=", 1)[0].count(REPRO) == 1  # the traceback omits the notes
    assert "AssertionError: rows differ" in section.split("<summary>traceback</summary>", 1)[1]
    assert "`test_embedding_errors.py::test_ids[float32]` (xpassed)" in failures
    crashes = md.split("## Crashes, timeouts and interruptions", 1)[1]
    assert "killed by SIGSEGV" in crashes and "Segmentation fault" in crashes
    assert "`test_vocab_parallel_forward.py::test_b`" in crashes
    assert "no result after 5 s" in crashes
    assert "test_gone.py::test_x" in md.split("## Stale expectations", 1)[1]


def test_documented_divergences_are_checked_against_the_failures():
    report = _report()
    checks = {c.id: c for c in report.divergences}
    assert checks["D-renorm-half"].failing == ["test_embedding_max_norm.py::test_renorm[float16]"]
    assert checks["D-renorm-half"].shown and not checks["D-never-seen"].shown
    assert list(report.undocumented) == ["eager"]  # only backends with divergences
    assert report.undocumented["eager"] == []  # the xpass is not a failure of the backend
    run = ok_run()
    run.results.tests.append(result("test_b.py::test_new", "binary", "forward", "failed",
                                    message="AssertionError: new"))
    report = _report([run])
    assert [r.id for r in report.undocumented["eager"]] == ["test_b.py::test_new"]
    md = render_markdown(report)
    section = md.split("## Documented divergences", 1)[1].split("\n## ", 1)[0]
    assert _table_row(section, "D-renorm-half", "S1.2")[:2] == [
        "embedding / max_norm (float16)", "yes: 1 failing test in its rows"]
    assert _table_row(section, "D-never-seen", "S0.3")[1] == "no"
    link = failure_anchor("eager", ("binary", "forward"))
    assert f"- [`test_b.py::test_new`](#{link}): AssertionError: new" in section


def test_not_run_backends_are_listed():
    md = render_markdown(_report(not_run=[("cuda_only", "CUDA is not available")]))
    assert "- cuda_only: CUDA is not available" in md.split("## Backends not run", 1)[1]


def test_report_without_failures_has_no_failure_sections():
    run = ok_run()
    run.results.tests = [t for t in run.results.tests if t.outcome == "passed"]
    run.results.stale_expectations = []
    md = render_markdown(_report([run]))
    for heading in ("## Failures", "## Expected failures", "## Crashes", "## Stale"):
        assert heading not in md


def test_json_holds_the_same_model():
    report = _report()
    data = json.loads(json.dumps(report_to_json(report)))
    assert data["format"] == "embedspec-report/2" and data["schema_version"] == 2
    assert data["profile"] == "quick" and data["seed"] == 7
    assert data["tolerance"] == "TOLERANCE POLICY TEXT"
    assert [c["backend"] for c in data["columns"]] == ["eager", "distributed", "slow"]
    assert len(data["rows"]) == len(report.rows)
    cells = {(c["family"], c["feature"], c["backend"]): c for c in data["cells"]}
    assert len(cells) == len(report.rows) * 3
    max_norm = cells[("embedding", "max_norm", "eager")]
    assert max_norm["counts"]["failed"] == 1
    assert max_norm["failing"][0]["notes"] == [REPRO]
    crashed = cells[("vocab_parallel", "forward", "distributed")]
    assert (crashed["status"], crashed["run_status"]) == ("stopped", "crash")
    assert cells[("vocab_parallel", "forward", "distributed")]["pending"] == 2


def test_an_expected_failure_is_explained_by_the_divergences_its_reason_names():
    both = (("embedding", "errors"),)
    divergences = {"eager": (Divergence("D-a", "S0.2", "a", both),
                             Divergence("D-b", "S0.3", "b", both))}
    run = ok_run()
    run.results.tests += [
        result("test_common.py::test_dtype", "embedding", "errors", "xfailed",
               message="D-a (S0.2)"),
        result("test_common.py::test_other", "embedding", "errors", "xfailed",
               message="no divergence named"),
    ]
    report = build_report([run], profile="quick", seed=0, device="cpu", versions={},
                          machine={}, tolerance=None, generated="", divergences=divergences)
    failing = {c.id: c.failing for c in report.divergences}
    assert failing["D-a"] == ["test_common.py::test_dtype", "test_common.py::test_other"]
    assert failing["D-b"] == ["test_common.py::test_other"]  # named by no reason: row rule
    assert not any(r.id.startswith("test_common.py") for r in report.undocumented["eager"])
