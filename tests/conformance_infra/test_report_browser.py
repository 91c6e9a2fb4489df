"""The report page in a real browser: headless Chromium (Debian's ``chromium``) opens
report.html from a file:// URL; the coloured cells are there, a failing cell opens to
its repro, the copy button works, nothing logs an error; a screenshot is saved."""

from __future__ import annotations

import json

import pytest
from embedspec.conformance.report import build_report, record_history, render_html

from .browser import Browser, find_chromium
from .synthetic import crashed_run, ok_run, timed_out_run
from .synthetic_bench import bench_run

FAILING_CELL = "cell-eager-embedding-max_norm"
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def chromium() -> str:
    path, why = find_chromium()
    if path is None:
        pytest.skip(f"no headless browser for the page test: {why}")
    return path


def _page(folder) -> str:
    run = ok_run()
    run.results.tests[2].notes = ["Reproduce with:\nimport torch\nassert False, 'rows differ'",
                                  "Draw 1 (case): Case(ids=[3])"]
    hostile = crashed_run()
    hostile.name = HOSTILE
    report = build_report([run, hostile, timed_out_run()], profile="quick", seed=0,
                          device="cpu", versions={"torch": "2.13.0"}, machine={},
                          tolerance="TOL", generated="2026-01-01", git_commit="abc123")
    report.bench = [bench_run()]
    record_history(report, folder)
    path = folder / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path.as_uri()


def test_the_page_renders_and_drills_down_in_headless_chromium(chromium, tmp_path):
    url = _page(tmp_path)
    browser = Browser(chromium, tmp_path / "profile")
    try:
        browser.open(url)
        classes = browser.evaluate(
            "Array.from(document.querySelectorAll('table.matrix td')).map(td => td.className)")
        assert {"v-conforming", "v-failing", "v-expected", "v-unsupported", "v-stopped",
                "v-not_run"} <= set(classes)
        colours = json.loads(browser.evaluate(
            "JSON.stringify(['v-conforming','v-failing','v-not_run'].map(c => getComputedStyle("
            "document.querySelector('td.' + c)).backgroundColor))"))
        assert len(set(colours)) == 3, colours  # the verdicts are told apart by colour
        assert browser.evaluate("document.querySelectorAll('script').length") == 1
        assert browser.evaluate("document.title") == "embedspec compatibility report"
        assert HOSTILE in browser.evaluate("document.querySelector('table.matrix thead')"
                                           ".textContent")  # a name shown as text
        cell = f"document.getElementById('{FAILING_CELL}')"
        repro = f"{cell}.querySelector('pre.repro')"
        assert browser.evaluate(f"{cell}.querySelector('details').open") is False
        assert browser.evaluate(f"{repro}.checkVisibility()") is False  # hidden until opened
        browser.evaluate(f"{cell}.querySelector('summary').click()")
        assert browser.evaluate(f"{cell}.querySelector('details').open") is True
        assert browser.evaluate(f"{repro}.checkVisibility()") is True
        text = browser.evaluate(f"{repro}.textContent")
        assert text.startswith("python -c ") and "rows differ" in text
        button = f"{cell}.querySelector('button.copy')"
        assert browser.evaluate(f"{button}.hidden") is False  # the script showed it
        browser.evaluate(f"{button}.click()")
        browser.evaluate("new Promise(r => setTimeout(r, 200))")
        assert browser.evaluate(f"{button}.textContent") in ("copied", "select the text to copy")
        assert browser.evaluate("document.querySelectorAll('#performance svg').length") >= 5
        browser.evaluate(f"{cell}.querySelector('details').open = false")
        browser.evaluate(f"location.hash = '#{FAILING_CELL}'")  # a link to the cell opens it
        browser.evaluate("new Promise(r => setTimeout(r, 200))")
        assert browser.evaluate(f"{cell}.querySelector('details').open") is True
        browser.screenshot(tmp_path / "report.png")
        assert (tmp_path / "report.png").stat().st_size > 10_000
        assert browser.errors() == []
    finally:
        browser.close()
