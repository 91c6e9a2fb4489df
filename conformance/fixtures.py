"""The session fixtures of a conformance run: the backend under test, where and how it
runs, and the runner that executes cases on it. Registered by
:mod:`embedspec.conformance.plugin`, which owns the run they read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from embedspec.backends.contract import Backend
from embedspec.conformance.case import LocalRunner, Runner, World
from embedspec.conformance.plugin import conformance_run
from embedspec.conformance.profiles import Profile


@pytest.fixture(scope="session")
def backend(pytestconfig: pytest.Config) -> Backend:
    """The backend under test."""
    return conformance_run(pytestconfig).backend


@pytest.fixture(scope="session")
def backend_spec(pytestconfig: pytest.Config) -> str:
    """The spec the backend was named by (a registry name or 'package.module:attr')."""
    return conformance_run(pytestconfig).spec


@pytest.fixture(scope="session")
def device(pytestconfig: pytest.Config) -> str:
    """'cpu' or 'cuda'."""
    return conformance_run(pytestconfig).device


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> Profile:
    return conformance_run(pytestconfig).profile


@pytest.fixture(scope="session")
def seed(pytestconfig: pytest.Config) -> int:
    return conformance_run(pytestconfig).seed


@pytest.fixture(scope="session")
def runner(pytestconfig: pytest.Config) -> Iterator[Runner]:
    """LocalRunner for single-process backends; a pool of worker processes otherwise."""
    run = conformance_run(pytestconfig)
    if not run.backend.multi_process:
        yield LocalRunner(run.backend)
        return
    from embedspec.conformance.distributed import PoolRunner

    pool = PoolRunner(run.spec, timeout_s=run.profile.timeout_s, device=run.device,
                      external=pytestconfig.getoption("embedspec_external"))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def worlds(pytestconfig: pytest.Config, runner: Runner) -> tuple[World, ...]:
    """The worlds this run may use: (World(1),) for single-process backends, else the
    profile's worlds that the runner supports."""
    run = conformance_run(pytestconfig)
    if not run.backend.multi_process:
        return (World(1),)
    return tuple(w for w in run.profile.worlds if runner.supports(w))


@pytest.fixture(autouse=True)
def _embedspec_torch_seed(pytestconfig: pytest.Config) -> None:
    torch.manual_seed(conformance_run(pytestconfig).seed)
