"""nox sessions: tests, lint, conformance runs, the report and the bench.

Every install goes through constraints/cpu.txt so that torch resolves to the CPU build.
Arguments after ``--`` are passed to the session's command, e.g.
``nox -s conformance-eager -- --profile thorough``.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
CONSTRAINTS = ("-c", "constraints/cpu.txt")


def install(session: nox.Session, *requirements: str) -> None:
    session.install(*CONSTRAINTS, *requirements)


@nox.session
def tests(session: nox.Session) -> None:
    """The project's tests."""
    install(session, "-e", ".[test,triton]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, configured in pyproject.toml."""
    install(session, "ruff")
    session.run("ruff", "check", ".", *session.posargs)


def _check(session: nox.Session, backend: str, package: str = ".") -> None:
    install(session, "-e", package)
    session.run("embedspec", "check", "--backend", backend, "--profile", "quick",
                "--results", f"reports/results/{backend}.json", *session.posargs)


@nox.session(name="conformance-eager")
def conformance_eager(session: nox.Session) -> None:
    """The conformance suite on the eager backend (quick profile)."""
    _check(session, "eager")


@nox.session(name="conformance-torch_compile")
def conformance_torch_compile(session: nox.Session) -> None:
    """The conformance suite on torch.compile'd torch.nn.Embedding (quick profile; inductor
    compiles every layer the suite builds, so this takes minutes)."""
    _check(session, "torch_compile")


@nox.session(name="conformance-distributed")
def conformance_distributed(session: nox.Session) -> None:
    """The conformance suite on the multi-process distributed backend (quick profile)."""
    _check(session, "distributed")


@nox.session(name="conformance-native")
def conformance_native(session: nox.Session) -> None:
    """The conformance suite on the native backend (quick profile; compiles on first use)."""
    _check(session, "native")


@nox.session(name="conformance-distributed-native")
def conformance_distributed_native(session: nox.Session) -> None:
    """The conformance suite on the distributed backend over the native kernels (quick)."""
    _check(session, "distributed-native")


@nox.session(name="conformance-triton")
def conformance_triton(session: nox.Session) -> None:
    """The conformance suite on both Triton backends (quick profile; interpreter on CPU)."""
    for backend in ("triton", "triton-deterministic"):
        _check(session, backend, package=".[triton]")


@nox.session
def report(session: nox.Session) -> None:
    """The compatibility report of every available backend, the opt-in torch_compile
    column included, in reports/."""
    install(session, "-e", ".")
    session.run("embedspec", "report", "--profile", "quick", "--include", "torch_compile",
                *session.posargs)


#: Prints the available single-process backends, for the bench session.
_BENCHABLE = ("from embedspec.backends.registry import discover; print(' '.join(e.name for e in "
              "discover() if e.available and not e.backend.multi_process))")


@nox.session
def bench(session: nox.Session) -> None:
    """``embedspec bench`` (quick set) on every available single-process backend."""
    install(session, "-e", ".")
    names = session.run("python", "-c", _BENCHABLE, silent=True).split()
    for name in names:
        session.run("embedspec", "bench", "--backend", name, "--scenarios", "quick",
                    "--out", f"reports/bench/{name}", *session.posargs)


@nox.session(name="bench-native")
def bench_native(session: nox.Session) -> None:
    """The native backend's speed ratios against their targets."""
    install(session, "-e", ".")
    session.run("python", "benchmarks/bench_native.py", *session.posargs)
