"""The rules of the bench as pure functions: byte formulas, the noise band and gate
verdicts, gate files, the fitted growth slope."""

from __future__ import annotations

import json

import pytest
import torch
from embedspec.conformance.bench.gates import GATES_DIR, Gate, GateFileError, load_gates
from embedspec.conformance.bench.growth import fitted_slope
from embedspec.conformance.bench.noise import BELOW, HOLDS, WITHIN_NOISE, judge, run_band
from embedspec.conformance.bench.results import AA, COPY, GateResult, ScenarioResult, Timing
from embedspec.conformance.bench.roofline import FORMULAS, Sizes, bytes_moved, is_suspect
from embedspec.conformance.bench.scenarios import CATALOGUE
from embedspec.conformance.bench.timing import Stats
from embedspec.conformance.bench.verdicts import after_rerun, judge_gate

Z = Sizes(N=1000, U=1000, V=50_000, D=64, s_w=4, s_o=4, s_i=8)


def test_forward_bytes_are_the_documented_formula():
    assert bytes_moved("forward", Z) == Z.N * Z.D * (Z.s_w + Z.s_o) + Z.N * Z.s_i


def test_repeated_ids_read_their_row_once():
    repeated = Sizes(N=1000, U=10, V=50_000, D=64, s_w=4, s_o=4, s_i=8)
    assert bytes_moved("forward", Z) - bytes_moved("forward", repeated) == 990 * 64 * 4


def test_backward_bytes_add_the_gradient_traffic():
    forward = bytes_moved("forward", Z)
    assert bytes_moved("fwd_bwd", Z) == forward + Z.N * Z.D * 4 + Z.V * Z.D * 4 + Z.N * 8
    # a sparse gradient without padding entries can be the output gradient and the ids
    assert bytes_moved("sparse_bwd", Z) == forward
    assert bytes_moved("stable", Z) == bytes_moved("fwd_bwd", Z) + Z.N * Z.D * 4 + 16 * Z.D


def test_every_operation_has_a_formula():
    from embedspec.conformance.bench.operations import OPERATIONS

    assert set(FORMULAS) == set(OPERATIONS)


def test_the_noise_rule():
    assert judge(0.95, 0.9, band=0.05) == HOLDS
    assert judge(0.88, 0.9, band=0.05) == WITHIN_NOISE
    assert judge(0.80, 0.9, band=0.05) == BELOW
    assert judge(0.80, 0.9, band=0.0) == BELOW
    assert run_band([0.01, None, 0.50, 0.03]) == 0.03  # the median: one outlier cannot widen it
    assert run_band([]) == 0.0


def test_a_gate_fails_only_when_its_rerun_is_below_too():
    first = GateResult("s", "speedup vs torch.nn >= 0.9", 0.9, 0.5, BELOW)
    assert after_rerun(first, GateResult("s", first.gate, 0.9, 0.5, BELOW)).verdict == "fails"
    second = after_rerun(first, GateResult("s", first.gate, 0.9, 0.95, HOLDS))
    assert second.verdict == HOLDS and second.rerun_value == 0.95 and not second.failed


def _result(backend_s: float, torch_nn_s: float, copy_s: float) -> ScenarioResult:
    result = ScenarioResult("t/forward/1", "", "forward", "b", "ok")
    for name, seconds in (("b", backend_s), ("torch.nn", torch_nn_s), (AA, torch_nn_s),
                          (COPY, copy_s)):
        result.timings[name] = Timing(name, "x", Stats(seconds, seconds, seconds, 1, 1))
    return result


def test_faster_than_the_copy_roofline_is_suspect_never_a_pass():
    gate = Gate("*", "speedup", 0.9, "torch.nn")
    honest = _result(backend_s=2.0, torch_nn_s=2.0, copy_s=1.0)
    assert honest.fraction() == 0.5 and judge_gate(gate, honest, band=0.05).verdict == HOLDS
    too_fast = _result(backend_s=0.5, torch_nn_s=2.0, copy_s=1.0)
    assert is_suspect(too_fast.fraction(), band=0.05)
    verdict = judge_gate(gate, too_fast, band=0.05)
    assert verdict.verdict == "suspect" and verdict.failed


def test_gate_files_are_validated(tmp_path):
    path = tmp_path / "g.json"
    for gate, message in (
        ({"scenario": "*", "metric": "speedup", "threshold": 1}, "names its 'baseline'"),
        ({"scenario": "*", "metric": "roofline", "threshold": -1}, "positive number"),
        ({"scenario": "*", "metric": "roofline", "threshold": 1, "colour": 1}, "unknown keys"),
        ({"scenario": "*", "metric": "roofline", "threshold": 1, "threads": "1"}, "list of int"),
    ):
        path.write_text(json.dumps({"gates": [gate]}))
        with pytest.raises(GateFileError, match=message):
            load_gates(path)


def test_stale_gates_name_no_scenario(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"backend": "x", "gates": [
        {"scenario": "gpt2/*", "metric": "roofline", "threshold": 0.5},
        {"scenario": "gpt3/forward/1", "metric": "roofline", "threshold": 0.5}]}))
    stale = load_gates(path).stale(["gpt2/forward/1", "bert/forward/1"])
    assert [g.scenario for g in stale] == ["gpt3/forward/1"]


@pytest.mark.parametrize("path", sorted(GATES_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_built_in_gate_files_load_and_name_scenarios_that_exist(path):
    gates = load_gates(path)
    assert json.loads(path.read_text())["backend"] == path.stem
    assert gates.gates and gates.stale(CATALOGUE) == []


def test_gates_restricted_to_devices_and_threads():
    gate = Gate("*", "roofline", 0.5, devices=("cuda",), threads=(1,))
    assert gate.applies("cuda", 1) and not gate.applies("cpu", 1) and not gate.applies("cuda", 2)


def test_fitted_slope_of_a_power_law():
    xs = [10, 100, 1000]
    assert fitted_slope(xs, [x ** 1.5 for x in xs]) == pytest.approx(1.5)
    assert fitted_slope(xs, [None, None, 3.0]) is None


def test_computed_values_may_differ_by_rounding_at_their_own_scale_not_by_a_wrong_value():
    from embedspec.conformance.bench.guards import Observed, mismatch

    expected = torch.tensor([600.0, 1e-3, -250.0])
    reordered = expected + torch.tensor([6.1e-5, 6.1e-5, 0.0])  # a few ulps of 600
    wrong = expected * torch.tensor([1.0, 1.0, 0.5])

    def observed(grad):
        return Observed(output=expected, grads={"weight": grad}, state={})

    base = observed(expected)
    assert mismatch(observed(reordered), base, exact=False) is None
    assert "gradient of 'weight'" in mismatch(observed(wrong), base, exact=False)
    assert mismatch(observed(reordered), base, exact=True) is None  # the output is exact
