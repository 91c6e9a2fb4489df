"""What a check runs against (:class:`Target`) and how a one-process case reaches it.

A :class:`Target` bundles the ``runner`` fixture, the backend, the device and the
spec the backend was named by on the command line (written into repro snippets).
Test modules get one from :func:`target_fixture`; repro snippets build one with
:func:`local_target`. :func:`make_case` wraps one process's state, indices and output
gradient in a :class:`~embedspec.conformance.case.Case`, and :func:`run` returns the
backend's single outcome of such a case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from embedspec.backends.contract import Backend
from embedspec.conformance.case import Case, LocalRunner, RankOutcome, Runner
from embedspec.reference.configs import LayerConfig


@dataclass(frozen=True)
class Target:
    """What a check runs against: the runner, the backend, the device, and the spec the
    backend was named by (written into repro snippets)."""

    runner: Runner
    backend: Backend
    device: str = "cpu"
    spec: str = ""

    @property
    def backend_spec(self) -> str:
        return self.spec or self.backend.name

    def case(self, config: LayerConfig, state: Mapping[str, torch.Tensor] | None = None,
             indices: torch.Tensor | None = None, grad_output: torch.Tensor | None = None,
             **fields: Any) -> Case:
        """:func:`make_case` on this target's device."""
        return make_case(config, state, indices, grad_output, device=self.device, **fields)


def local_target(backend: Backend, *, device: str = "cpu", spec: str = "") -> Target:
    """A target running cases in this process (as repro snippets do)."""
    return Target(LocalRunner(backend), backend, device, spec)


def target_fixture() -> Callable[..., Target]:
    """A ``target`` fixture built from the plugin's session fixtures; a test module
    declares it with ``target = harness.target_fixture()``."""

    def target(runner: Runner, backend: Backend, backend_spec: str, device: str) -> Target:
        return Target(runner, backend, device, backend_spec)

    return pytest.fixture(name="target", scope="module")(target)


def make_case(config: LayerConfig, state: Mapping[str, torch.Tensor] | None = None,
              indices: torch.Tensor | None = None, grad_output: torch.Tensor | None = None, *,
              device: str = "cpu", **fields: Any) -> Case:
    """A one-process case: ``state`` loaded, then ``indices`` looked up (and backward with
    ``grad_output``); ``fields`` set any other :class:`Case` field (``action``, ...)."""
    return Case(config=config,
                states=[dict(state)] if state is not None else [],
                inputs=[indices] if indices is not None else [],
                grad_outputs=[grad_output] if grad_output is not None else None,
                device=device, **fields)


def run(target: Target, case: Case) -> RankOutcome:
    """The backend's outcome of a one-process case."""
    outcomes = target.runner.run(case)
    if len(outcomes) != 1:
        raise AssertionError(f"a one-process case gave {len(outcomes)} outcomes")
    return outcomes[0]
