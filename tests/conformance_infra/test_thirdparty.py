"""An out-of-tree backend: installed as a distribution, found through its entry point,
and checked by the CLI like a built-in one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[1] / "thirdparty" / "embedspec_demo_backend"
SUPPORTED = {("embedding", "forward"), ("embedding", "padding_idx")}


def _embedspec() -> list[str]:
    script = Path(sys.executable).with_name("embedspec")
    assert script.exists(), f"no embedspec console script next to {sys.executable}"
    return [str(script)]


def _run(args: list[str], pythonpath: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    return subprocess.run(_embedspec() + args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The demo backend installed with pip into a folder of its own (not the venv)."""
    root = tmp_path_factory.mktemp("thirdparty")
    source = root / "source"
    shutil.copytree(DEMO, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--target", str(target), str(source)],
        check=True, capture_output=True, text=True, timeout=300)
    return target


def _assert_suite_passed(run: subprocess.CompletedProcess, results: Path) -> None:
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    data = json.loads(results.read_text())
    assert data["header"]["backend"]["name"] == "demo"
    outcomes = {}
    for test in data["tests"]:
        outcomes.setdefault(test["outcome"], []).append(test)
    assert set(outcomes) <= {"passed", "unsupported"}, {
        k: [t["id"] for t in v] for k, v in outcomes.items()}
    assert outcomes.get("passed"), "no conformance test ran on the demo backend"
    assert {(t["family"], t["feature"]) for t in outcomes["passed"]} <= SUPPORTED
    assert all((t["family"], t["feature"]) not in SUPPORTED or t["dtype"] not in
               ("float32", "float64") for t in outcomes.get("unsupported", []))


def test_list_discovers_the_installed_backend(installed, tmp_path):
    run = _run(["list"], installed, tmp_path)
    assert run.returncode == 0, run.stderr
    line = next(line for line in run.stdout.splitlines() if line.split()[:1] == ["demo"])
    assert line.split()[1] == "yes"
    assert "0.3.0" in line and "embedding" in line
    assert "embedspec_demo_backend:DemoBackend" in line


def test_check_runs_the_suite_on_the_installed_backend(installed, tmp_path):
    results = tmp_path / "demo.json"
    run = _run(["check", "--backend", "demo", "--profile", "quick", "--results", str(results),
                "-q"], installed, tmp_path)
    _assert_suite_passed(run, results)
    assert json.loads(results.read_text())["header"]["backend"]["version"] == "0.3.0"


def test_check_accepts_a_module_attr_spec_of_an_uninstalled_backend(tmp_path):
    results = tmp_path / "demo.json"
    run = _run(["check", "--backend", "embedspec_demo_backend:DemoBackend", "--profile", "quick",
                "--results", str(results), "-q"], DEMO / "src", tmp_path)
    _assert_suite_passed(run, results)
    assert json.loads(results.read_text())["header"]["backend"]["version"] == "source"


def test_check_of_a_backend_that_cannot_load_exits_2_with_the_reason(tmp_path):
    run = _run(["check", "--backend", "embedspec_demo_backend:Missing"], DEMO / "src", tmp_path)
    assert run.returncode == 2
    assert "has no attribute 'Missing'" in run.stderr
