"""Expectations files: validation, stale entries and accepting a run."""

from __future__ import annotations

import json

import pytest
from embedspec.conformance.session.expectations import (
    Expectation,
    Expectations,
    ExpectationsError,
    Observation,
    accept,
    load_expectations,
    parse_expectations,
    write_expectations,
)

A = "test_a.py::test_one[float32]"
B = "test_a.py::test_two"
C = "test_b.py::test_three"


def _file(tmp_path, data) -> str:
    path = tmp_path / "backend.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_load_round_trip(tmp_path):
    data = {"backend": "mine", "entries": [
        {"test": A, "status": "xfail", "reason": "renorm in float16 differs"}]}
    loaded = load_expectations(_file(tmp_path, data))
    assert loaded.backend == "mine"
    assert loaded.get(A) == Expectation(A, "renorm in float16 differs")
    assert loaded.get(B) is None
    out = tmp_path / "out" / "written.json"
    write_expectations(loaded, out)
    assert json.loads(out.read_text()) == data


@pytest.mark.parametrize("data, problem", [
    ("{not json", "not valid JSON"),
    ([], "the top level must be an object"),
    ({"entries": []}, "'backend' must be a non-empty string"),
    ({"backend": "x", "entries": {}}, "'entries' must be a list"),
    ({"backend": "x", "entries": [], "extra": 1}, "unknown top-level keys \\['extra'\\]"),
    ({"backend": "x", "entries": ["test_a.py::t"]}, r"entries\[0\]: an entry must be an object"),
    ({"backend": "x", "entries": [{"test": "test_a.py", "status": "xfail", "reason": "r"}]},
     r"entries\[0\]: 'test' must be a test id"),
    ({"backend": "x", "entries": [{"test": A, "status": "skip", "reason": "r"}]},
     r"entries\[0\]: 'status' must be one of \['xfail'\]"),
    ({"backend": "x", "entries": [{"test": A, "status": "xfail", "reason": " "}]},
     r"entries\[0\]: 'reason' must be a non-empty string"),
    ({"backend": "x", "entries": [{"test": A, "status": "xfail", "reason": "r", "why": 1}]},
     r"entries\[0\]: unknown keys \['why'\]"),
    ({"backend": "x", "entries": [{"test": A, "status": "xfail", "reason": "r"},
                                  {"test": A, "status": "xfail", "reason": "s"}]},
     r"entries\[1\]: test .* is listed twice"),
])
def test_malformed_file_is_a_clear_error_naming_the_file(tmp_path, data, problem):
    path = _file(tmp_path, data)
    with pytest.raises(ExpectationsError, match=problem) as err:
        load_expectations(path)
    assert str(path) in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ExpectationsError, match="cannot read the expectations file"):
        load_expectations(tmp_path / "absent.json")


def test_stale_entries_are_those_without_a_collected_test():
    exp = parse_expectations({"backend": "x", "entries": [
        {"test": A, "status": "xfail", "reason": "r"},
        {"test": C, "status": "xfail", "reason": "r"}]})
    assert exp.stale([A, B]) == [C]
    assert exp.stale([A, B, C]) == []


def test_accept_keeps_reasons_adds_new_failures_drops_passing_and_stale():
    gone = "test_gone.py::test_removed"
    not_run = "test_b.py::test_deselected"
    current = Expectations("mine", {
        A: Expectation(A, "known: float16 rounding"),
        B: Expectation(B, "fixed since"),
        gone: Expectation(gone, "old"),
        not_run: Expectation(not_run, "kept while not run"),
    })
    observed = {
        A: Observation(True, "AssertionError: still differs"),
        B: Observation(False),
        C: Observation(True, "IndexError: id 7 out of range\nmore detail"),
    }
    updated, summary = accept(current, "mine", observed, collected={A, B, C, not_run})
    assert updated.backend == "mine"
    assert updated.entries == {
        A: Expectation(A, "known: float16 rounding"),
        C: Expectation(C, "accepted: IndexError: id 7 out of range"),
        not_run: Expectation(not_run, "kept while not run"),
    }
    assert list(updated.entries) == sorted(updated.entries)
    assert summary.added == [C]
    assert sorted(summary.kept) == sorted([A, not_run])
    assert summary.dropped_passing == [B]
    assert summary.dropped_stale == [gone]
    assert "1 added" in str(summary)


def test_accept_without_a_file_creates_one():
    updated, summary = accept(None, "fresh", {A: Observation(True, "")}, collected={A})
    assert updated.entries == {A: Expectation(A, "accepted: failed")}
    assert summary.added == [A]
