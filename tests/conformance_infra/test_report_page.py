"""The report page (report.html): self-contained, escaped, every cell's verdict and
drill-down; the history; the performance section; the JSON carrying the same."""

from __future__ import annotations

import html
import json
import re
import shlex
import xml.etree.ElementTree as ET

from embedspec.conformance.report import (
    build_report,
    record_history,
    render_html,
    render_markdown,
    report_to_json,
)
from embedspec.conformance.report.performance import performance_section

from .synthetic import Divergence, crashed_run, ok_run, result, timed_out_run
from .synthetic_bench import bench_run

HOSTILE = "<script>alert(1)</script>"


def _report(runs=None, **kwargs):
    runs = runs if runs is not None else [ok_run(), crashed_run(), timed_out_run()]
    return build_report(runs, profile="quick", seed=7, device="cpu", versions={"torch": "2.13"},
                        machine={"platform": "Linux-test"}, tolerance="TOL",
                        generated=kwargs.pop("generated", "2026-01-01 00:00 UTC"),
                        git_commit="abc123", **kwargs)


def _cell_html(page: str, anchor: str) -> str:
    match = re.search(rf'<td class="v-(\w+)" id="{anchor}".*?</td>', page, re.S)
    assert match, anchor
    return match.group(0)


def test_page_is_one_self_contained_document():
    page = render_html(_report())
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<style>" in page and "<script>" in page
    assert not re.search(r'(src|href)="(https?:)?//', page), "no resource from the network"
    assert "<link" not in page


def test_cells_carry_their_verdict_class_and_open_to_their_detail():
    page = render_html(_report())
    max_norm = _cell_html(page, "cell-eager-embedding-max_norm")
    assert max_norm.startswith('<td class="v-failing"')
    assert "<details><summary>1 ✓ (float32), 1 ✗ (float16)</summary>" in max_norm
    assert "float16: 1 failed" in max_norm and "float32: 1 passed" in max_norm
    assert "1 failing test</b>" in max_norm and "AssertionError: rows differ" in max_norm
    forward = _cell_html(page, "cell-eager-embedding-forward")
    assert forward.startswith('<td class="v-conforming"')
    assert "<summary>2 ✓</summary>" in forward  # every dtype passed: none named
    assert "float32: 1 passed" in forward and "float64: 1 passed" in forward
    assert _cell_html(page, "cell-eager-embedding-sparse").startswith('<td class="v-expected"')
    unsupported = _cell_html(page, "cell-eager-binary-packed")
    assert unsupported.startswith('<td class="v-unsupported"')
    assert "unsupported: binary / packed / float32 / cpu" in unsupported  # the reason
    assert _cell_html(page, "cell-distributed-vocab_parallel-forward").startswith(
        '<td class="v-stopped"')
    assert _cell_html(page, "cell-distributed-embedding-forward").startswith(
        '<td class="v-not_run"')
    for label in ("failing", "crashed / timed out / interrupted", "expected failure", "conforming",
                  "unsupported", "not run"):
        assert f">{label}</span>" in page  # the legend


def test_expected_failures_show_their_reason_and_divergence_ids():
    run = ok_run()
    run.results.tests.append(result("test_common.py::test_dtype", "embedding", "errors",
                                    "xfailed", message="D-index-dtype (S0.2)"))
    page = render_html(_report([run]))
    cell = _cell_html(page, "cell-eager-embedding-errors")
    assert "D-index-dtype (S0.2)" in cell and '<span class="div-id">D-index-dtype</span>' in cell


def test_header_has_versions_commit_expectations_and_times():
    run = ok_run()
    run.results.header.expectations = "/x/eager.json"
    page = render_html(_report([run]))
    for text in ("abc123", "2.13", "Linux-test", "<b>quick</b>", "<b>7</b>", "4.0 s",
                 "<code>/x/eager.json</code>", "TOL"):
        assert text in page, text
    md = render_markdown(_report([run]))
    assert "| embedspec commit" in md and "abc123" in md and "`/x/eager.json`" in md


def test_strings_from_backends_tests_and_exceptions_are_escaped():
    run = ok_run()
    run.name = HOSTILE
    run.results.header.backend["description"] = f"<b>{HOSTILE}</b>"
    failing = run.results.tests[2]
    failing.message = f"AssertionError: <img src=x onerror=alert(2)> {HOSTILE}"
    failing.failure = f"E   {HOSTILE}"
    failing.notes = [f"Reproduce with:\nprint('{HOSTILE}')", f"Draw 1: {HOSTILE}"]
    run.results.tests[4].message = f"D-x <i>{HOSTILE}</i>"
    bench = bench_run(HOSTILE)
    report = _report([run])
    report.bench = [bench]
    page = render_html(report)
    assert page.count("<script>") == 1  # the page's own
    assert "<img" not in page and "<i>" not in page and "<b><script" not in page
    assert html.escape(HOSTILE) in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    body = page.split("<body>", 1)[1].rsplit("<script>", 1)[0]
    ET.fromstring(f"<root>{_xml_ready(body)}</root>")  # still well-formed: nothing broke out


def _xml_ready(body: str) -> str:
    """The page body as XML: HTML entities XML lacks, and void elements closed."""
    body = body.replace("&plusmn;", "±").replace("&times;", "×")
    return re.sub(r"<(meta|br|hr|img|input)([^>]*)>", r"<\1\2/>", body)


def test_json_cell_status_is_the_verdict_consistent_with_its_counts():
    run = ok_run()
    run.results.tests[2].notes = ["Reproduce with:\nprint('it fails')", "Draw 1: ids=[0]"]
    data = report_to_json(_report([run, crashed_run()]))
    assert data["schema_version"] == 2
    for cell in data["cells"]:
        c = cell["counts"]
        if c["failed"] or c["error"] or c["xpassed"]:
            assert cell["status"] == "failing", cell
        elif cell["run_status"] != "ok":
            assert cell["status"] == "stopped"
        elif c["xfailed"]:
            assert cell["status"] == "expected"
        elif c["passed"]:
            assert cell["status"] == "conforming"
    cells = {(c["family"], c["feature"], c["backend"]): c for c in data["cells"]}
    max_norm = cells[("embedding", "max_norm", "eager")]
    assert max_norm["dtypes"] == {"float16": {"failed": 1}, "float32": {"passed": 1}}
    failing = max_norm["failing"][0]
    assert failing["repro"] == "print('it fails')" and failing["example"] == "Draw 1: ids=[0]"
    assert shlex.split(failing["repro_command"]) == ["python", "-c", "print('it fails')"]
    packed = cells[("binary", "packed", "eager")]
    assert packed["skip_reasons"] == [
        {"reason": "unsupported: binary / packed / float32 / cpu", "count": 1}]


def test_reference_column_explains_its_unsupported_and_skipped_tests():
    run = ok_run()
    run.name = "reference"
    page = render_html(_report([run]))
    md = render_markdown(_report([run]))
    for text in (page, md, json.dumps(report_to_json(_report([run])))):
        assert "The reference column is the spec itself, run in one process" in text
    assert "## Skipped and unsupported tests" in md
    assert "- 1 test: unsupported: binary / packed / float32 / cpu" in md


def test_divergences_show_each_ones_own_witnesses():
    errors = (("embedding", "errors"),)
    run = ok_run()
    run.results.tests += [
        result("test_common.py::test_config[a]", "embedding", "errors", "xfailed",
               message="D-a (S0.5); D-b (S0.5)"),
        result("test_common.py::test_config[c]", "embedding", "errors", "xfailed",
               message="D-c (S0.5)"),
    ]
    report = _report([run], divergences={"eager": tuple(
        Divergence(d, "S0.5", f"{d} text", errors) for d in ("D-a", "D-b", "D-c"))})
    named = {c.id: c.named for c in report.divergences}
    assert named == {"D-a": ["test_common.py::test_config[a]"],
                     "D-b": ["test_common.py::test_config[a]"],
                     "D-c": ["test_common.py::test_config[c]"]}
    page = render_html(report)
    row = re.search(r'<tr id="div-D-a">.*?</tr>', page).group(0)
    assert "<code>test_common.py::test_config[a]</code> (shared with D-b)" in row
    row_c = re.search(r'<tr id="div-D-c">.*?</tr>', page).group(0)
    assert "test_config[c]</code></li>" in row_c and "shared" not in row_c
    md = render_markdown(report)
    assert "`test_common.py::test_config[c]`" in md.split("## Documented divergences")[1]


def test_two_consecutive_runs_show_what_changed(tmp_path):
    first = _report(generated="2026-01-01")
    assert record_history(first, tmp_path).previous is None
    assert "first run recorded in history.jsonl" in render_html(first)
    same = _report(generated="2026-01-02")
    record_history(same, tmp_path)
    for text in (render_html(same), render_markdown(same)):
        assert "Nothing changed since the previous run (2026-01-01)" in text
    fixed = ok_run()
    fixed.results.tests[2].outcome = "passed"  # max_norm float16 now passes
    changed = _report([fixed, crashed_run()], generated="2026-01-03")
    history = record_history(changed, tmp_path)
    assert [(c.backend, c.feature, c.before, c.after) for c in history.verdicts] == [
        ("eager", "max_norm", "failing", "conforming")]
    assert history.removed == ["slow"]
    page = render_html(changed)
    assert "eager: embedding / max_norm: failing → conforming" in page
    assert "backend slow was in the previous run and is not in this one" in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') >= 2  # trends
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[-1])["backends"]["eager"]["counts"]["passed"] == 4


def test_ratios_that_move_beyond_the_noise_band_are_changes(tmp_path):
    before = _report(generated="1")
    before.bench = [bench_run(speed=1.0)]
    record_history(before, tmp_path)
    steady = _report(generated="2")
    steady.bench = [bench_run(speed=1.01)]  # within the 3 % band
    assert not record_history(steady, tmp_path).ratios
    faster = _report(generated="3")
    faster.bench = [bench_run(speed=1.5)]
    moved = record_history(faster, tmp_path).ratios
    assert {(r.scenario, r.metric) for r in moved} == {
        ("gpt2/forward/8192", "torch.nn"), ("gpt2/forward/8192", "torch.compile"),
        ("gpt2/forward/8192", "roofline"), ("t5/fwd_bwd/4096", "torch.nn"),
        ("t5/fwd_bwd/4096", "roofline")}
    assert "eager: gpt2/forward/8192: speedup vs torch.nn 1.11 → 1.65 (+49%, noise band ±3%)" \
        in render_markdown(faster)


def test_unreadable_history_lines_are_reported_not_fatal(tmp_path):
    (tmp_path / "history.jsonl").write_text("{not json\n", encoding="utf-8")
    report = _report()
    history = record_history(report, tmp_path)
    assert history.previous is None and "line 1: not JSON" in history.unreadable[0]
    assert "line 1: not JSON" in render_html(report)


def test_performance_section_draws_bars_gates_and_growth_as_inline_svg():
    section = performance_section([bench_run()])
    charts = re.findall(r"<svg .*?</svg>", section, re.S)
    assert len(charts) == 2 * 2 + 1  # speedups and roofline of two scenarios, one growth
    for chart in charts:
        ET.fromstring(chart)  # well-formed SVG
    assert "vs torch.nn" in section and "1.10×" in section  # 2.2e-4 / 2e-4
    assert "vs torch.compile" in section and "50%" in section  # roofline 1e-4 / 2e-4
    assert '<span class="gate g-holds"' in section and '<span class="gate g-fails"' in section
    assert "does not fit memory &lt;b&gt;here&lt;/b&gt;" in section
    assert "Fitted slopes: backend 0.98, torch.nn 1.00" in section
    assert performance_section([]) == ""
    report = _report()
    report.bench = [bench_run()]
    assert 'id="performance"' in render_html(report)
    assert report_to_json(report)["bench"][0]["backend"] == "eager"
