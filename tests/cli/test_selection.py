"""Which backends ``embedspec report`` runs: opt-in backends, --include, --backends."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from embedspec.backends.registry import BackendEntry
from embedspec.conformance.cli.exits import BACKEND_UNUSABLE, CommandError
from embedspec.conformance.cli.selection import select_backends


def _entry(name: str, *, available: bool = True, opt_in: str = "") -> BackendEntry:
    backend = SimpleNamespace(name=name, opt_in_reason=opt_in)
    return BackendEntry(name, f"pkg:{name}", backend, available, "" if available else "no")


ENTRIES = [_entry("reference"), _entry("torch_nn"), _entry("eager"),
           _entry("slow", opt_in="opt-in: slow column"), _entry("gone", available=False)]


def _names(selection) -> list[str]:
    return [s.name for s in selection.selected]


def test_default_set_leaves_out_opt_in_backends_and_says_why():
    selection = select_backends(ENTRIES, [])
    assert _names(selection) == ["reference", "torch_nn", "eager"]
    assert ("slow", "opt-in: slow column") in selection.not_run
    assert ("gone", "no") in selection.not_run


def test_include_adds_an_opt_in_backend_to_the_default_set():
    selection = select_backends(ENTRIES, [], include=["slow"])
    assert _names(selection) == ["reference", "torch_nn", "eager", "slow"]
    assert all(name != "slow" for name, _ in selection.not_run)


def test_backends_names_an_opt_in_backend_directly():
    assert _names(select_backends(ENTRIES, ["slow"])) == ["reference", "torch_nn", "slow"]
    assert _names(select_backends(ENTRIES, ["eager"], include=["slow"])) == \
        ["reference", "torch_nn", "eager", "slow"]


def test_an_included_backend_that_cannot_run_stops_the_report():
    with pytest.raises(CommandError) as raised:
        select_backends(ENTRIES, [], include=["gone"])
    assert raised.value.status == BACKEND_UNUSABLE
    assert "gone" in str(raised.value)
