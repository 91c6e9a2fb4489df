"""The backend registry: specs, entry points, load errors and discovery."""

from __future__ import annotations

import pytest
from embedspec.backends.contract import Backend
from embedspec.backends.registry import (
    BUILTIN_BACKENDS,
    BackendLoadError,
    discover,
    load_backend,
    registrations,
)

from .helpers import add_entry_points, add_fake_backends, write_module


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """A unique module name holding every fake backend, named 'fake_<module>'."""
    module = f"es_fakes_{abs(hash(tmp_path)) % 10**8}"
    add_fake_backends(monkeypatch, tmp_path, module, "fake")
    return module


@pytest.mark.parametrize("attr", ["GoodBackend", "instance", "factory"])
def test_module_attr_spec_accepts_class_instance_and_factory(fakes, attr):
    backend = load_backend(f"{fakes}:{attr}")
    assert isinstance(backend, Backend)
    assert backend.name == "fake"


def test_module_attr_spec_may_name_a_nested_attribute(fakes):
    assert load_backend(f"{fakes}:Holder.backend").name == "fake"


@pytest.mark.parametrize("spec, reason", [
    ("", "non-empty"),
    (":GoodBackend", "malformed"),
    ("module:", "malformed"),
    ("a:b:c", "malformed"),
    ("no_such_backend_name", "unknown backend 'no_such_backend_name'"),
    ("embedspec_no_such_module:Backend", "importing 'embedspec_no_such_module'"),
])
def test_bad_specs_give_the_reason(spec, reason):
    with pytest.raises(BackendLoadError, match=reason):
        load_backend(spec)


def test_unknown_attribute(fakes):
    with pytest.raises(BackendLoadError, match="has no attribute 'Missing'"):
        load_backend(f"{fakes}:Missing")


def test_module_raising_on_import(tmp_path, monkeypatch):
    write_module(tmp_path, "es_raises_on_import", "raise ImportError('libfoo.so not found')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(BackendLoadError) as err:
        load_backend("es_raises_on_import:Backend")
    assert "importing 'es_raises_on_import'" in str(err.value)
    assert "libfoo.so not found" in str(err.value)


@pytest.mark.parametrize("attr, reason", [
    ("NotABackend", "not a subclass of embedspec.backends.contract.Backend"),
    ("not_a_backend", "is a int, not a Backend"),
    ("bad_factory", "returned int, not an embedspec.backends.contract.Backend"),
    ("crashing_factory", r"creating the backend .* failed: OSError: no such library"),
    ("Nameless", "has no name"),
])
def test_objects_that_are_not_backends(fakes, attr, reason):
    with pytest.raises(BackendLoadError, match=reason):
        load_backend(f"{fakes}:{attr}")


def test_unavailable_backend_is_refused_with_its_reason(fakes):
    with pytest.raises(BackendLoadError, match="unavailable: needs a device this machine lacks"):
        load_backend(f"{fakes}:UnavailableBackend")
    backend = load_backend(f"{fakes}:UnavailableBackend", require_available=False)
    assert backend.name == "fake_unavailable"


def test_availability_that_raises(fakes):
    with pytest.raises(BackendLoadError, match=r"availability\(\) raised RuntimeError"):
        load_backend(f"{fakes}:RaisingAvailability")


def test_builtins_are_registered_as_data():
    assert set(BUILTIN_BACKENDS) == {"eager", "reference", "torch_nn", "torch_compile",
                                     "distributed", "native", "distributed-native", "triton",
                                     "triton-deterministic"}
    regs = registrations()
    for name, spec in BUILTIN_BACKENDS.items():
        assert regs[name][0].spec == spec
        assert regs[name][0].origin == "built-in"


def test_entry_point_backend_is_discovered_and_loadable(tmp_path, monkeypatch):
    add_fake_backends(monkeypatch, tmp_path, "es_ep_backends", "plugged")
    add_entry_points(monkeypatch, tmp_path, "es-plugged", {
        "plugged": "es_ep_backends:GoodBackend",
        "plugged_unavailable": "es_ep_backends:UnavailableBackend",
        "plugged_broken": "es_ep_missing_module:Backend",
    })
    assert load_backend("plugged").name == "plugged"
    entries = {e.name: e for e in discover()}
    assert entries["plugged"].available
    assert entries["plugged"].origin == "entry point of es-plugged 1.0"
    assert isinstance(entries["plugged"].backend, Backend)
    unavailable = entries["plugged_unavailable"]
    assert not unavailable.available
    assert unavailable.reason == "needs a device this machine lacks"
    assert unavailable.backend is not None
    broken = entries["plugged_broken"]
    assert not broken.available and broken.backend is None
    assert "importing 'es_ep_missing_module'" in broken.reason
    with pytest.raises(BackendLoadError, match="unavailable"):
        load_backend("plugged_unavailable")


def test_registered_name_must_match_backend_name(tmp_path, monkeypatch):
    add_fake_backends(monkeypatch, tmp_path, "es_ep_mismatch", "other")
    add_entry_points(monkeypatch, tmp_path, "es-mismatch", {"mine": "es_ep_mismatch:GoodBackend"})
    with pytest.raises(BackendLoadError, match=r"registered as 'mine' .* calls itself 'other'"):
        load_backend("mine")


def test_duplicate_names_are_an_error_naming_both_sources(tmp_path, monkeypatch):
    add_fake_backends(monkeypatch, tmp_path, "es_ep_dup", "eager")
    add_entry_points(monkeypatch, tmp_path, "es-dup", {"eager": "es_ep_dup:GoodBackend"})
    with pytest.raises(BackendLoadError) as err:
        load_backend("eager")
    message = str(err.value)
    assert "registered more than once" in message
    assert "built-in (embedspec.backends.eager:EagerBackend)" in message
    assert "entry point of es-dup 1.0 (es_ep_dup:GoodBackend)" in message
    entry = next(e for e in discover() if e.name == "eager")
    assert not entry.available and "registered more than once" in entry.reason


def test_discover_never_raises_and_lists_every_builtin():
    entries = discover()
    assert [e.name for e in entries][:len(BUILTIN_BACKENDS)] == list(BUILTIN_BACKENDS)
    for e in entries:
        assert e.available == (e.reason == "")
        if e.available:
            assert e.backend is not None and e.backend.name == e.name
