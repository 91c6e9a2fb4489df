"""A deliberately broken third-party backend, run the way ``embedspec report`` runs a
backend: its page shows the failure, expandable to a repro command that, pasted into
a shell (it sets the PYTHONPATH the backend needs), fails the same way."""

from __future__ import annotations

import html
import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from embedspec.conformance import cli
from embedspec.conformance.report import build_report, runs
from embedspec.conformance.report.anchors import cell_anchor
from embedspec.conformance.report.runs import run_backend

BROKEN = '''
import torch
from embedspec.backends.contract import Availability, Backend, Capabilities


class OffByOne(torch.nn.Embedding):
    def forward(self, ids):
        return super().forward(ids) + 1.0


class BrokenBackend(Backend):
    name = "broken"
    description = "adds 1 to every row it looks up"

    def availability(self):
        return Availability.yes()

    def capabilities(self):
        return Capabilities.declare(
            {"embedding": {"features": ["forward"], "dtypes": ["float32"]}})

    def build(self, config, context):
        return OffByOne(config.num_embeddings, config.embedding_dim,
                        padding_idx=config.padding_idx, dtype=config.dtype,
                        device=context.device)
'''
SPEC = "embedspec_broken_backend:BrokenBackend"
TEST = "test_lookup_returns_stored_rows"


def test_a_failing_backend_page_shows_a_repro_that_reproduces_it(tmp_path, monkeypatch):
    (tmp_path / "embedspec_broken_backend.py").write_text(textwrap.dedent(BROKEN))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get(
        "PYTHONPATH", "")]).rstrip(os.pathsep))
    command = runs.check_command

    def only_one_test(backend, **kwargs):
        argv = command(backend, **kwargs)
        at = argv.index("--")
        return [*argv[:at], "-k", TEST, *argv[at:]]

    monkeypatch.setattr(runs, "check_command", only_one_test)
    out = tmp_path / "reports"
    run = run_backend(SPEC, profile="quick", device="cpu", seed=0, timeout_s=300,
                      results=out / "results" / "broken.json", out=io.StringIO())
    assert run.status == "ok", run.message
    failed = [t for t in run.results.tests if t.outcome == "failed"]
    assert [t.id for t in failed] == [f"test_embedding_forward.py::{TEST}[float32]"]
    frames = re.findall(r"^(\S+\.py):\d+: in ", failed[0].failure, re.M)
    assert frames and not any("_pytest" in f or "pluggy" in f for f in frames), frames
    report = build_report([run], profile="quick", seed=0, device="cpu", versions={},
                          machine={}, tolerance=None, generated="now")
    cli.write_report(report, out)
    page = (out / "report.html").read_text(encoding="utf-8")
    anchor = cell_anchor(run.name, ("embedding", "forward"))
    cell = re.search(rf'<td class="v-failing" id="{anchor}".*?</td>', page, re.S)
    assert cell, "the failing cell is in the matrix"
    assert "<details><summary>" in cell.group(0) and "1 failing test" in cell.group(0)
    assert "Failing example" in cell.group(0)
    repro = re.search(r'<pre class="repro" id="(repro-\d+)">(.*?)</pre>', cell.group(0), re.S)
    assert repro and f'data-copy="{repro.group(1)}"' in cell.group(0)  # the copy button
    pasted = html.unescape(repro.group(2))
    assert pasted.startswith(f"PYTHONPATH={tmp_path} python -c "), pasted[:200]
    shell_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    shell_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(["bash", "-c", pasted], capture_output=True, text=True, timeout=120,
                          cwd=Path(sys.executable).parent, env=dict(shell_env, PATH=shell_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "AssertionError: output (a gather)" in proc.stderr, proc.stderr[-2000:]
