"""``embedspec check``: the conformance suite on one backend, in this process.

It runs ``pytest --pyargs embedspec.conformance`` with the plugin's options, isolated
from the pytest configuration of the current folder, after checking what can be
checked first (the device, the output and expectation paths, the backend). pytest's
status becomes one of :mod:`~embedspec.conformance.cli.exits`: 0 passed as expected,
1 failures (or an internal error), 64 usage errors (pytest's own, or ``-k`` selecting
no test), 128 + signal when interrupted. SIGTERM stops the run like Ctrl-C, so the
results file (``--results``) is written, marked incomplete.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from embedspec.conformance.cli.exits import FAILED, OK, USAGE, interrupted
from embedspec.conformance.cli.outputs import prepare_file
from embedspec.conformance.cli.validation import (
    load_or_refuse,
    require_accept_target,
    require_device,
    require_expectations_file,
)

#: The folder of the installed ``embedspec.conformance`` package (pytest's rootdir).
PACKAGE_DIR = Path(__file__).resolve().parents[1]
#: pytest's exit statuses (``pytest.ExitCode``) -> embedspec's; 2 (interrupted) apart.
PYTEST_STATUSES = {0: OK, 1: FAILED, 3: FAILED, 4: USAGE, 5: USAGE}
PYTEST_INTERRUPTED = 2
PYTEST_NO_TESTS = 5


def run(args: argparse.Namespace) -> int:
    if args.results:
        args.results = str(prepare_file(args.results, "--results"))
    require_expectations_file(args)
    require_device(args.device)
    backend = load_or_refuse(args.backend)
    require_accept_target(args, backend)
    import pytest

    with _sigterm_interrupts() as received:
        status = int(pytest.main(pytest_arguments(args)))
    if status == PYTEST_INTERRUPTED:
        return interrupted(received[-1] if received else signal.SIGINT)
    if status == PYTEST_NO_TESTS:
        selection = f" by -k {args.keyword!r}" if args.keyword else ""
        print(f"embedspec check: no test was selected{selection}", file=sys.stderr)
    return PYTEST_STATUSES.get(status, FAILED)


def pytest_arguments(args: argparse.Namespace) -> list[str]:
    """The pytest command line of ``embedspec check``: the installed conformance package,
    isolated from any pytest configuration of the current folder."""
    argv = [
        "-p", "embedspec.conformance.plugin", "-p", "no:cacheprovider",
        "-c", os.devnull, "--rootdir", str(PACKAGE_DIR),
        # the backend was loaded before pytest started, possibly importing hypothesis
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        "--pyargs", "embedspec.conformance",
        "--embedspec-backend", args.backend, "--embedspec-profile", args.profile,
        "--embedspec-device", args.device, "--embedspec-seed", str(args.seed),
    ]
    if args.results:
        argv += ["--embedspec-results", str(Path(args.results).resolve())]
    if args.expectations:
        argv += ["--embedspec-expectations", str(Path(args.expectations).resolve())]
    if args.accept:
        argv.append("--embedspec-accept")
    if args.external:
        argv += ["--embedspec-external", args.external]
    if args.keyword:
        argv += ["-k", args.keyword]
    if args.exitfirst:
        argv.append("-x")
    if args.quiet:
        argv.append("-q")
    if args.verbose:
        argv.append("-v")
    return argv + list(args.pytest_args)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[list[int]]:
    """While inside, SIGTERM raises KeyboardInterrupt as SIGINT does (pytest then stops
    as on Ctrl-C); yields the list of the signals received."""
    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        del frame
        received.append(signum)
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
