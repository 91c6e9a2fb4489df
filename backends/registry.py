"""Finding backends by name: built-in ones, installed plugins and import specs.

A backend is named by a *spec*, one of

* a registered name: a built-in backend (:data:`BUILTIN_BACKENDS`) or one that an
  installed distribution declares in the ``embedspec.backends`` entry-point group,
  e.g. in its ``pyproject.toml``::

      [project.entry-points."embedspec.backends"]
      mybackend = "mypackage.backend:MyBackend"

* an import spec ``"package.module:attr"`` for a backend that is not installed as
  a plugin (``attr`` may be dotted, e.g. ``"module:Holder.backend"``).

The object a spec points at may be a :class:`~embedspec.backends.contract.Backend`
subclass (instantiated without arguments), a ``Backend`` instance, or a zero-argument
factory returning one. A registered backend's ``name`` must equal the name it is
registered under, so that reports, expectation files and the CLI agree.

:func:`load_backend` raises :class:`BackendLoadError` with the reason when a spec
cannot be used here; :func:`discover` lists every registered backend and never
raises: a backend that fails to load is listed as unavailable, with the reason.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import traceback
from collections.abc import Mapping
from dataclasses import dataclass

from embedspec.backends.contract import Availability, Backend

#: The entry-point group third-party distributions declare their backends in.
ENTRY_POINT_GROUP = "embedspec.backends"

#: The backends that ship with embedspec: name -> import spec.
BUILTIN_BACKENDS: Mapping[str, str] = {
    "eager": "embedspec.backends.eager:EagerBackend",
    "reference": "embedspec.backends.reference_backend:ReferenceBackend",
    "torch_nn": "embedspec.backends.torch_nn:TorchNNBackend",
    "torch_compile": "embedspec.backends.torch_compile:TorchCompileBackend",
    "distributed": "embedspec.backends.distributed:DistributedBackend",
    "native": "embedspec.backends.native:NativeBackend",
    "distributed-native": "embedspec.backends.native:DistributedNativeBackend",
    "triton": "embedspec.backends.triton:TritonBackend",
    "triton-deterministic": "embedspec.backends.triton:TritonDeterministicBackend",
}


class BackendLoadError(Exception):
    """A backend spec cannot be used here; the message says why."""


@dataclass(frozen=True)
class Registration:
    """Where a registered name comes from: ``origin`` is "built-in" or the
    distribution declaring the entry point."""

    name: str
    spec: str
    origin: str


@dataclass(frozen=True)
class BackendEntry:
    """One line of :func:`discover`: a registered backend and whether it runs here."""

    name: str
    spec: str
    backend: Backend | None
    available: bool
    reason: str
    origin: str = "built-in"


def registrations() -> dict[str, list[Registration]]:
    """Every registered name with its registrations, built-ins first.

    A name with more than one registration is a conflict that :func:`load_backend`
    and :func:`discover` report rather than resolve.
    """
    found: dict[str, list[Registration]] = {}
    for name, spec in BUILTIN_BACKENDS.items():
        found.setdefault(name, []).append(Registration(name, spec, "built-in"))
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        origin = f"entry point of {dist.name} {dist.version}" if dist else "entry point"
        previous = found.setdefault(ep.name, [])
        if any(r.spec == ep.value and r.origin == origin for r in previous):
            continue  # the same distribution seen twice on sys.path
        previous.append(Registration(ep.name, ep.value, origin))
    return found


def load_backend(spec: str, *, require_available: bool = True) -> Backend:
    """The backend named by ``spec`` (a registered name or ``"package.module:attr"``).

    Raises :class:`BackendLoadError` when the spec is unknown or malformed, its module
    fails to import, the object is not a Backend, a registered name is declared more
    than once or names a backend with a different ``name``, or (with
    ``require_available``) the backend reports itself unavailable here.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise BackendLoadError(f"a backend spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    backend = _load_object_spec(spec) if ":" in spec else _load_registered(spec, registrations())
    if require_available:
        availability = _availability(backend)
        if not availability.available:
            raise BackendLoadError(f"backend {backend.name!r} is unavailable: "
                                   f"{availability.reason}")
    return backend


def discover() -> list[BackendEntry]:
    """Every registered backend, loaded, with its availability. Never raises."""
    try:
        found = registrations()
    except Exception as exc:
        return [BackendEntry("?", "", None, False,
                             f"reading the {ENTRY_POINT_GROUP!r} entry points failed: "
                             f"{_describe(exc)}", "entry points")]
    entries = []
    for name, regs in found.items():
        spec, origin = regs[0].spec, regs[0].origin
        try:
            backend = _load_registered(name, found)
        except BackendLoadError as exc:
            entries.append(BackendEntry(name, spec, None, False, str(exc), origin))
            continue
        try:
            availability = _availability(backend)
        except BackendLoadError as exc:
            entries.append(BackendEntry(name, spec, backend, False, str(exc), origin))
            continue
        entries.append(BackendEntry(name, spec, backend, availability.available,
                                    availability.reason, origin))
    return entries


def _load_registered(name: str, found: Mapping[str, list[Registration]]) -> Backend:
    regs = found.get(name)
    if not regs:
        known = ", ".join(sorted(found)) or "none"
        raise BackendLoadError(
            f"unknown backend {name!r}; registered backends: {known}; "
            "an unregistered backend is named as 'package.module:attr'"
        )
    if len(regs) > 1:
        sources = "; ".join(f"{r.origin} ({r.spec})" for r in regs)
        raise BackendLoadError(f"backend name {name!r} is registered more than once: {sources}")
    backend = _load_object_spec(regs[0].spec)
    if backend.name != name:
        raise BackendLoadError(
            f"backend registered as {name!r} ({regs[0].spec}) calls itself {backend.name!r}; "
            "the registered name and Backend.name must agree"
        )
    return backend


def _load_object_spec(spec: str) -> Backend:
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path or ":" in attr_path:
        raise BackendLoadError(f"malformed backend spec {spec!r}: expected 'package.module:attr'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise BackendLoadError(
            f"importing {module_name!r} for backend {spec!r} failed: {_describe(exc)}"
        ) from exc
    obj: object = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise BackendLoadError(
                f"backend spec {spec!r}: {module_name!r} has no attribute {attr_path!r}"
            ) from None
    return _as_backend(obj, spec)


def _as_backend(obj: object, spec: str) -> Backend:
    """A Backend from a Backend subclass, instance or zero-argument factory."""
    if isinstance(obj, Backend):
        backend = obj
    elif inspect.isclass(obj) and not issubclass(obj, Backend):
        raise BackendLoadError(
            f"{spec!r} is the class {obj.__qualname__}, which is not a subclass of "
            "embedspec.backends.contract.Backend"
        )
    elif callable(obj):
        try:
            backend = obj()
        except Exception as exc:
            raise BackendLoadError(f"creating the backend {spec!r} failed: "
                                   f"{_describe(exc)}") from exc
        if not isinstance(backend, Backend):
            raise BackendLoadError(
                f"{spec!r} returned {type(backend).__qualname__}, not an "
                "embedspec.backends.contract.Backend"
            )
    else:
        raise BackendLoadError(
            f"{spec!r} is a {type(obj).__qualname__}, not a Backend subclass, instance or "
            "factory"
        )
    if not isinstance(backend.name, str) or not backend.name:
        raise BackendLoadError(f"backend {spec!r} has no name (set the class attribute `name`)")
    return backend


def _availability(backend: Backend) -> Availability:
    try:
        return backend.availability()
    except Exception as exc:
        raise BackendLoadError(
            f"backend {backend.name!r}: availability() raised {_describe(exc)}"
        ) from exc


def _describe(exc: BaseException) -> str:
    """The exception's type and message, plus where it was raised."""
    text = f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {last.filename}:{last.lineno})"
    return text
