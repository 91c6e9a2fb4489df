"""The bench machinery on synthetic backends and tiny scenarios; no timing is asserted
(only outcomes a sleep of many times the work, or a wrong answer, decides)."""

from __future__ import annotations

import json

import pytest
import torch
from embedspec.conformance import cli
from embedspec.conformance.bench import scenarios as catalogue
from embedspec.conformance.bench.runner import Settings, run_scenario
from embedspec.conformance.bench.timing import make_clock

from . import synthetic
from .synthetic import TINY_FORWARD, TINY_SET

FAST = ["--baselines", "torch.nn", "--rounds", "2", "--min-block", "0.001", "--no-growth"]


@pytest.fixture
def tiny_catalogue(monkeypatch):
    """The CLI sees only the tiny scenarios."""
    monkeypatch.setattr(catalogue, "FULL", TINY_SET)
    monkeypatch.setattr(catalogue, "CATALOGUE", {s.name: s for s in TINY_SET})


def _gates(tmp_path, *gates: dict) -> str:
    path = tmp_path / "gates.json"
    path.write_text(json.dumps({"backend": "test", "gates": list(gates)}))
    return str(path)


def _bench(tmp_path, backend: str, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "out"
    status = cli.main(["bench", "--backend", f"{synthetic.__name__}:{backend}",
                       "--scenarios", "quick", "--out", str(out), *FAST, *extra])
    data = json.loads((out / "bench.json").read_text()) if (out / "bench.json").exists() else {}
    return status, data


FORWARD_GATE = {"scenario": "*/forward/*", "metric": "speedup", "baseline": "torch.nn",
                "threshold": 0.9}


def test_a_fast_wrong_backend_is_rejected_before_timing():
    timed = []
    clock = make_clock(torch.device("cpu"))
    original = clock.block
    clock.block = lambda step, number: timed.append(step) or original(step, number)
    result = run_scenario(TINY_FORWARD, synthetic.FastWrongBackend(), torch.device("cpu"), clock,
                          Settings(rounds=1, min_block_s=0.001, baselines=("torch.nn",)))
    assert result.status == "rejected"
    assert "differ from the reference" in result.reason
    assert result.timings["fast_wrong"].stats is None
    assert timed == []


def test_rejection_fails_the_run_and_its_gates(tmp_path, tiny_catalogue):
    status, data = _bench(tmp_path, "FastWrongBackend", "--gates", _gates(tmp_path, FORWARD_GATE))
    assert status == 1
    assert {g["verdict"] for g in data["gates"]} == {"rejected"}


def test_a_slow_backend_fails_its_gate_after_a_rerun(tmp_path, tiny_catalogue, capsys):
    status, data = _bench(tmp_path, "SlowBackend", "--gates", _gates(tmp_path, FORWARD_GATE))
    assert status == 1
    (gate,) = data["gates"]
    assert gate["verdict"] == "fails" and gate["rerun_value"] is not None
    assert [s["scenario"] for s in data["scenarios"] if s["rerun"]] == [gate["scenario"]]
    assert "**FAILS**" in capsys.readouterr().out


def test_a_correct_backend_within_its_gates_exits_0(tmp_path, tiny_catalogue, capsys):
    lenient = dict(FORWARD_GATE, threshold=1e-3)
    status, data = _bench(tmp_path, "CorrectBackend", "--gates", _gates(tmp_path, lenient))
    assert status == 0
    assert data["gates"][0]["verdict"] in ("holds", "holds within noise")
    out = capsys.readouterr().out
    assert "Noise band" in out and "roofline" in out


def test_a_backend_whose_times_measure_no_kernels_is_not_timed(tmp_path, tiny_catalogue,
                                                               capsys):
    status, data = _bench(tmp_path, "InterpretedBackend", "--gates",
                          _gates(tmp_path, FORWARD_GATE))
    assert status == 0
    reasons = {s["scenario"]: (s["status"], s["reason"]) for s in data["scenarios"]}
    assert reasons and all(status == "skipped" and synthetic.InterpretedBackend.caveat in reason
                           for status, reason in reasons.values())
    assert data["growth"] == []
    assert "is not timed on cpu" in capsys.readouterr().out


def test_a_stale_gate_is_reported(tmp_path, tiny_catalogue, capsys):
    stale = dict(FORWARD_GATE, scenario="no-such-table/forward/1", threshold=1e-3)
    status, data = _bench(tmp_path, "CorrectBackend", "--gates", _gates(tmp_path, stale))
    assert data["stale_gates"] == ["no-such-table/forward/1"]
    assert "stale gates" in capsys.readouterr().out
    assert status == 0


def test_a_backend_that_cannot_load_exits_2(tmp_path, capsys):
    assert cli.main(["bench", "--backend", "no_such_backend", "--out", str(tmp_path)]) == 2
    assert "cannot use backend" in capsys.readouterr().err


def test_a_malformed_gate_file_is_a_usage_error(tmp_path, capsys):
    bad = _gates(tmp_path, {"scenario": "*", "metric": "speed", "threshold": 1})
    status, _ = _bench(tmp_path, "CorrectBackend", "--gates", bad)
    assert status == 64
    assert "'metric' must be one of" in capsys.readouterr().err


def test_the_eager_backend_has_a_forward_gate():
    from embedspec.backends.eager import EagerBackend
    from embedspec.conformance.bench.gates import default_gates_path, load_gates

    gates = load_gates(default_gates_path(EagerBackend())).gates
    assert any(g.metric == "speedup" and g.baseline == "torch.nn" and g.threshold == 0.9
               and g.matches("gpt2/forward/8192") for g in gates)
    assert not load_gates(default_gates_path(EagerBackend())).stale(catalogue.CATALOGUE)


def test_selecting_scenarios():
    assert {s.name for s in catalogue.select("quick")} <= set(catalogue.CATALOGUE)
    assert len(catalogue.select("full")) == len(catalogue.FULL)
    assert [s.name for s in catalogue.select("gpt2/forward/8192")] == ["gpt2/forward/8192"]
    assert all(s.operation == "forward" for s in catalogue.select("*/forward/*"))
    with pytest.raises(ValueError, match="no scenario matches 'nope'"):
        catalogue.select("nope")


def test_the_report_shows_each_backends_performance_section(tmp_path, tiny_catalogue):
    from embedspec.conformance.report.performance_data import load_bench_results
    from embedspec.conformance.report.performance_markdown import performance_markdown

    _bench(tmp_path, "CorrectBackend", "--gates", _gates(tmp_path, dict(FORWARD_GATE,
                                                                       threshold=1e-3)))
    runs = load_bench_results([tmp_path / "out"])
    text = performance_markdown(runs, [("distributed", "backend 'distributed' is "
                                                       "multi-process")])
    assert text.startswith("## Performance")
    assert "### correct" in text and "| tiny/forward/16 " in text and "vs torch.nn" in text
    assert "holds" in text
    assert "### Not benchmarked\n\n- distributed: backend 'distributed' is multi-process" in text
