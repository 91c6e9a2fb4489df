"""The fixtures of a conformance run: the target every check runs against, the backend
under test, where and how it runs, the runner that executes cases on it, and the
worlds each test may use. Registered by :mod:`embedspec.conformance.plugin`, which owns
the run they read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from embedspec.backends.contract import Backend
from embedspec.conformance.checks.case import Runner, World
from embedspec.conformance.checks.execute import LocalRunner
from embedspec.conformance.checks.target import Target
from embedspec.conformance.plugin import conformance_run, item_worlds
from embedspec.conformance.session.profiles import Profile


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
    """LocalRunner for single-process backends; otherwise worker processes: one local
    pool that every world of the run shares (its largest world's size), or the
    external world."""
    run = conformance_run(pytestconfig)
    if not run.backend.multi_process:
        yield LocalRunner(run.backend)
        return
    from embedspec.conformance.distributed import PoolRunner

    external = pytestconfig.getoption("embedspec_external")
    pool_size = None if external or not run.worlds else max(w.nprocs for w in run.worlds)
    pool = PoolRunner(run.spec, timeout_s=run.profile.timeout_s, device=run.device,
                      external=external, pool_size=pool_size)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def target(runner: Runner, backend: Backend, backend_spec: str, device: str) -> Target:
    """What every check of the run runs against."""
    return Target(runner, backend, device, backend_spec)


@pytest.fixture
def worlds(request: pytest.FixtureRequest) -> tuple[World, ...]:
    """The worlds this test runs on, decided by the plugin at collection time."""
    return item_worlds(request.node)


@pytest.fixture(autouse=True)
def _embedspec_torch_seed(pytestconfig: pytest.Config) -> None:
    torch.manual_seed(conformance_run(pytestconfig).seed)
