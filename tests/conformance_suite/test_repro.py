"""Repro snippets are self-contained and reproduce: run as is in a fresh interpreter,
a failing check's snippet raises the same AssertionError, and a passing one runs clean.
The values it writes (tensors of every dtype and layout, configurations with special
floats, exception classes) come back bit for bit."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from embedspec.backends.reference_backend import ReferenceBackend
from embedspec.conformance import checks
from embedspec.conformance import strategies as xs
from embedspec.conformance.checks.case import Case, World
from embedspec.conformance.checks.repro import NOTE_HEADER, reporting, repro_snippet
from embedspec.conformance.session.failure_notes import snippet_pythonpath
from embedspec.reference.configs import BinaryConfig, EmbeddingConfig, StableEmbeddingConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
THIS_MODULE = "tests.conformance_suite.test_repro"
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class OffByOneBackend(ReferenceBackend):
    """The reference with every output shifted by one: fails every forward check."""

    name = "off_by_one"

    def build(self, config, context):
        layer = super().build(config, context)
        layer.register_forward_hook(lambda module, args, output: output + 1)
        return layer


OFF_BY_ONE_SPEC = f"{THIS_MODULE}:OffByOneBackend"


def _snippet_of(exc: BaseException) -> str:
    notes = [n for n in getattr(exc, "__notes__", ()) if n.startswith(NOTE_HEADER)]
    assert len(notes) == 1, f"expected one repro note, got {len(notes)}"
    return notes[0].removeprefix(NOTE_HEADER).lstrip("\n")


def _run(snippet: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True,
                          text=True, timeout=240)


def _small_case() -> Case:
    config = EmbeddingConfig(num_embeddings=4, embedding_dim=3, padding_idx=-1, max_norm=1.5)
    state = {"weight": torch.tensor([[0.5, -2.0, 1.0], [0.0, -0.0, 3.0], [1e-30, 7.0, -1.0],
                                     [2.0, 2.0, 2.0]])}
    indices = torch.tensor([[3, 1], [1, 0], [2, 2]], dtype=torch.int32).t()
    grad = torch.arange(18.0).reshape(2, 3, 3) / 7
    return Case(config, states=[state], inputs=[indices], grad_outputs=[grad])


def test_a_failing_snippet_reproduces_in_a_fresh_interpreter():
    case = _small_case()
    with checks.target_for(OffByOneBackend(), spec=OFF_BY_ONE_SPEC) as target, \
            pytest.raises(AssertionError) as info:
        checks.check(target, case)
    snippet = _snippet_of(info.value)
    assert "as_strided" in snippet, "the transposed indices keep their strides"
    result = _run(snippet)
    assert result.returncode != 0
    first_line = str(info.value).splitlines()[0]
    assert f"AssertionError: {first_line}" in result.stderr, result.stderr[-2000:]


def test_a_snippet_reproduces_when_executed_in_process(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))  # the snippet names this module's backend
    config = StableEmbeddingConfig(num_embeddings=3, embedding_dim=2, dtype=torch.bfloat16)
    state = {"weight": torch.tensor([[1.0, 2.0], [0.5, -0.5], [3.0, 3.0]],
                                    dtype=torch.bfloat16),
             "norm.weight": torch.tensor([1.0, 2.0]), "norm.bias": torch.tensor([0.0, -1.0])}
    case = Case(config, states=[state], inputs=[torch.tensor(2)])
    with checks.target_for(OffByOneBackend(), spec=OFF_BY_ONE_SPEC) as target, \
            pytest.raises(AssertionError) as info:
        checks.check(target, case)
    with pytest.raises(AssertionError) as again:
        exec(_snippet_of(info.value), {"__name__": "repro"})
    assert str(again.value).splitlines()[0] == str(info.value).splitlines()[0]


def test_a_passing_snippet_runs_clean():
    case = _small_case()
    snippet = repro_snippet(case, "reference")
    result = _run(snippet)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("check", ["error", "initialisation", "repeatable"])
def test_every_check_writes_a_runnable_call(check):
    """The snippet calls the check that failed with its options (a passing run)."""
    cases = {
        "error": (Case(EmbeddingConfig(3, 2, padding_idx=7), action="build"),
                  {"error": ValueError, "mentions": "padding_idx"}),
        "initialisation": (Case(EmbeddingConfig(64, 4, padding_idx=1, init="xavier_uniform"),
                                action="build"), {"seed": 3}),
        "repeatable": (Case(BinaryConfig(3, 11, padding_idx=0),
                            states=[{"weight": torch.randn(3, 11)}],
                            inputs=[torch.tensor([[0, 2], [1, 1]])], repeat=2), {}),
    }
    case, options = cases[check]
    name = {"error": "check", "initialisation": "check_initialisation",
            "repeatable": "check_repeatable"}[check]
    snippet = repro_snippet(case, "reference", check=name, options=options)
    assert f"checks.{name}(target, case" in snippet
    exec(snippet, {"__name__": "repro"})


def _evaluate(source: str, imports: set[str]):
    namespace: dict = {"__name__": "repro"}
    exec("\n".join(sorted(imports)), namespace)
    return eval(source, namespace)


def _source_of(value):
    from embedspec.conformance.checks.repro import _Source

    src = _Source()
    return src.value(value), src.imports


@pytest.mark.parametrize("dtype", xs.DTYPE_NAMES)
@PROPERTY
@given(data=st.data())
def test_tables_round_trip_bitwise(dtype, data):
    rows = data.draw(st.integers(0, 12), label="rows")
    cols = data.draw(st.integers(0, 9), label="cols")
    table = data.draw(xs.tables(rows, cols, dtype, "any"), label="table")
    source, imports = _source_of(table)
    again = _evaluate(source, imports)
    assert again.dtype == table.dtype and again.shape == table.shape
    assert torch.equal(again.view(torch.uint8) if table.numel() else again,
                       table.view(torch.uint8) if table.numel() else table)


@PROPERTY
@given(data=st.data())
def test_index_tensors_round_trip_with_their_strides(data):
    num_embeddings = data.draw(st.integers(1, 12), label="num_embeddings")
    indices = data.draw(xs.index_tensors(num_embeddings), label="indices")
    source, imports = _source_of(indices)
    again = _evaluate(source, imports)
    assert again.dtype == indices.dtype and again.shape == indices.shape
    assert again.stride() == indices.stride() or indices.numel() == 0
    assert torch.equal(again, indices)


def test_large_tensors_are_written_as_exact_bytes():
    table = torch.randn(50, 20).to(torch.bfloat16)
    table[0, 0] = -0.0
    source, imports = _source_of(table)
    assert "base64" in source and len(source) < 4 * table.numel() * table.element_size()
    again = _evaluate(source, imports)
    assert torch.equal(again.view(torch.int16), table.view(torch.int16))


def test_configs_with_special_values_round_trip():
    config = EmbeddingConfig(3, 2, max_norm=math.inf, norm_type=math.nan, init="scaled_normal",
                             dtype=torch.float16)
    source, imports = _source_of(config)
    assert "math.inf" in source and "math.nan" in source
    again = _evaluate(source, imports)
    assert again.max_norm == math.inf and math.isnan(again.norm_type)
    assert (again.init, again.dtype) == ("scaled_normal", torch.float16)
    callable_init = EmbeddingConfig(3, 2, init=checks.fill_with_constant)
    source, imports = _source_of(callable_init)
    assert _evaluate(source, imports) == callable_init


def test_non_default_case_fields_are_written():
    case = Case(EmbeddingConfig(2, 2), world=World(1), repeat=3, action="build")
    snippet = repro_snippet(case, "eager")
    assert "repeat=3" in snippet and "action='build'" in snippet


def test_reporting_attaches_one_note_even_when_nested():
    case = _small_case()
    with pytest.raises(AssertionError) as info, reporting(case, "eager"), \
            reporting(case, "eager"):
        raise AssertionError("boom")
    assert _snippet_of(info.value).count("checks.target_for('eager'") == 1


def test_reporting_never_hides_the_failure():
    case = Case(EmbeddingConfig(2, 2, init=lambda w: w.zero_()))
    with pytest.raises(AssertionError, match="boom") as info, reporting(case, "eager"):
        raise AssertionError("boom")
    assert any("no snippet" in n for n in info.value.__notes__)


def test_a_world_snippet_reruns_every_process():
    """A multi-process case's snippet writes every process's state and input and runs
    the same check through the same target factory."""
    from embedspec.reference.configs import ShardedConfig

    config = ShardedConfig(num_embeddings=3, embedding_dim=4)
    states = [{"weight": torch.ones(3, 2)}, {"weight": torch.zeros(3, 2)}]
    inputs = [torch.tensor([0, 2]), torch.tensor([0, 2])]
    case = Case(config, states=states, inputs=inputs, world=World(2))
    snippet = repro_snippet(case, "distributed", options={"error": IndexError})
    assert "state1 = " in snippet and "indices1 = " in snippet
    assert "world=World(size=2, dp_size=1)" in snippet
    assert "checks.check(target, case, error=IndexError)" in snippet


def test_a_module_attr_snippet_names_the_folder_to_put_on_pythonpath():
    snippet = repro_snippet(_small_case(), OFF_BY_ONE_SPEC)
    assert snippet.startswith(f"# run with PYTHONPATH={ROOT} ")
    assert snippet_pythonpath(snippet) == str(ROOT)
    assert f"checks.target_for({OFF_BY_ONE_SPEC!r}" in snippet
    registered = repro_snippet(_small_case(), "eager")
    assert snippet_pythonpath(registered) is None and registered.startswith("import ")
    installed = repro_snippet(_small_case(), "embedspec.backends.eager:EagerBackend")
    assert snippet_pythonpath(installed) is None, "an installed module needs no PYTHONPATH"


def test_a_target_made_from_an_object_is_reloaded_by_its_spec():
    with checks.target_for(OffByOneBackend()) as target:
        assert target.backend_spec == f"{OffByOneBackend.__module__}:OffByOneBackend"
    with checks.target_for(ReferenceBackend()) as target:
        assert target.backend_spec == "reference"
        assert repr(target) == "Target('reference', device='cpu')"
