"""What a check runs against: a :class:`Target` bundles the runner that executes cases,
the backend, the device and the spec the backend was named by (written into repro
snippets).

The conformance tests get theirs from the plugin's ``target`` fixture; a repro snippet,
or any script, makes one with :func:`target_for`, for single-process and multi-process
backends alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from embedspec.backends.contract import Backend
from embedspec.backends.registry import load_backend, registrations
from embedspec.conformance.checks.case import Case, RankOutcome, Runner
from embedspec.conformance.checks.execute import LocalRunner


@dataclass(frozen=True)
class Target:
    """The runner, the backend, the device, and the spec the backend was named by
    (when none is given, :func:`spec_of` the backend)."""

    runner: Runner
    backend: Backend
    device: str = "cpu"
    spec: str = ""

    def __post_init__(self) -> None:
        if not self.spec:
            object.__setattr__(self, "spec", spec_of(self.backend))

    def __repr__(self) -> str:
        return f"Target({self.spec!r}, device={self.device!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How hypothesis's failing example shows a target: by its spec, not its fields."""
        del cycle
        printer.text(repr(self))

    @property
    def backend_spec(self) -> str:
        """The spec repro snippets reload the backend by."""
        return self.spec

    def run(self, case: Case) -> list[RankOutcome]:
        """Every process's outcome of ``case``, run on this target's device."""
        return self.runner.run(self.place(case))

    def place(self, case: Case) -> Case:
        """``case`` on this target's device."""
        return case if case.device == self.device else dataclasses.replace(
            case, device=self.device)


def spec_of(backend: Backend) -> str:
    """A spec that loads ``backend`` again in a fresh process: its registered name
    when the registry maps that name to its class, else ``module:Class`` of its class
    (which the registry instantiates without arguments), else its name."""
    cls = type(backend)
    own = f"{cls.__module__}:{cls.__qualname__}"
    try:
        registered = [r.spec for r in registrations().get(backend.name, ())]
    except Exception:  # unreadable entry points: the class spec still works
        registered = []
    if registered == [own]:
        return backend.name
    if cls.__module__ != "__main__" and "<" not in cls.__qualname__:
        return own
    return backend.name


@contextlib.contextmanager
def target_for(backend: str | Backend, *, device: str = "cpu",
               spec: str | None = None) -> Iterator[Target]:
    """A :class:`Target` for ``backend`` (a spec, as on the command line, or a backend
    object, with ``spec`` the name repro snippets reload it by, :func:`spec_of` it
    when not given): cases run in this process for a single-process backend, in a
    pool of worker processes (closed on exit) for a multi-process one, which must be
    given by spec."""
    if isinstance(backend, str):
        spec, loaded = backend, load_backend(backend)
    else:
        spec, loaded = spec or "", backend
    if not loaded.multi_process:
        yield Target(LocalRunner(loaded), loaded, device, spec)
        return
    if not spec:
        raise ValueError("a multi-process backend runs in worker processes, which load it "
                         "by its spec: pass the spec, not the object")
    from embedspec.conformance.distributed import PoolRunner

    with PoolRunner(spec, device=device) as runner:
        yield Target(runner, loaded, device, spec)
