"""A failing backend named ``module:attr``, checked by ``embedspec check`` from a folder
of its own: the Markdown report's code block holds only the repro snippet, which names
the folder to put on PYTHONPATH, reloads the backend by its spec, and, pasted into a
file and run from elsewhere, fails the same way."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from embedspec.conformance.report import BackendRun, build_report, render_markdown
from embedspec.conformance.session.failure_notes import snippet_pythonpath
from embedspec.conformance.session.results import load_results

BACKEND = '''
from embedspec.backends.reference_backend import ReferenceBackend


class ShiftedBackend(ReferenceBackend):
    """The reference with every output shifted by one."""

    name = "shifted"

    def build(self, config, context):
        layer = super().build(config, context)
        layer.register_forward_hook(lambda module, args, output: output + 1)
        return layer
'''
MODULE = "embedspec_shifted_backend"
SPEC = f"{MODULE}:ShiftedBackend"
TEST = "test_lookup_returns_stored_rows and float32"


def _env_without_pythonpath() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def markdown(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("backend")
    (folder / f"{MODULE}.py").write_text(textwrap.dedent(BACKEND))
    results = folder / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "embedspec.conformance.cli", "check", "--backend", SPEC,
         "--profile", "quick", "-k", TEST, "--results", str(results), "-q", "--", "--tb=no"],
        cwd=folder, env=dict(_env_without_pythonpath(), PYTHONPATH=str(folder)),
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    run = BackendRun("shifted", "ok", load_results(results), duration_s=1.0)
    report = build_report([run], profile="quick", seed=0, device="cpu", versions={},
                          machine={}, tolerance=None, generated="now")
    return render_markdown(report)


def _python_blocks(markdown: str) -> list[str]:
    blocks = re.findall(r"^( *)```python\n(.*?)^\1```$", markdown, re.S | re.M)
    return [textwrap.dedent("".join(f"{line}\n" for line in body.splitlines()))
            for _, body in blocks]


def test_the_code_block_holds_only_the_snippet(markdown):
    (snippet,) = _python_blocks(markdown)
    compile(snippet, "<repro>", "exec")  # no example text inside: it parses
    assert "Falsifying example" not in snippet and "Draw 1" not in snippet
    assert "Draw 1 (case)" in markdown, "the drawn values are shown beside the snippet"
    assert f"target=Target({SPEC!r}, device='cpu')" in markdown
    assert f"checks.target_for({SPEC!r}" in snippet, "the backend is reloaded by its spec"


def test_the_pasted_snippet_reproduces_the_failure(markdown, tmp_path):
    (snippet,) = _python_blocks(markdown)
    folder = snippet_pythonpath(snippet)
    assert folder and (Path(folder) / f"{MODULE}.py").exists(), snippet.splitlines()[0]
    pasted = tmp_path / "repro.py"
    pasted.write_text(snippet)
    done = subprocess.run([sys.executable, str(pasted)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120,
                          env=dict(_env_without_pythonpath(), PYTHONPATH=folder))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "AssertionError: output (a gather)" in done.stderr, done.stderr[-2000:]
    assert "unknown backend" not in done.stderr
    assert f"checks.target_for({SPEC!r}" in done.stderr, "its own repro names the spec too"
