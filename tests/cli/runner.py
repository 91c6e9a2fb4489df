"""Running ``embedspec`` as a user does, in a child process, with synthetic third-party
backends importable from a temporary folder (given as ``module:attr`` specs)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

MODULE = "embedspec_cli_backends"
#: The one test (one dtype declared) the real runs select.
TEST = "test_lookup_returns_stored_rows"
#: Backends of one feature (embedding / forward, float32): passing, failing, crashing
#: (the check process dies), and slow (each layer takes SLOW_BUILD_S to build).
SOURCE = '''
import os
import signal
import time

from embedspec.backends.contract import Capabilities
from embedspec.backends.eager import EagerBackend

SLOW_BUILD_S = 2.0
ONE_FEATURE = {"embedding": {"features": ["forward"], "dtypes": ["float32"]}}


class Good(EagerBackend):
    name = "cli_good"
    description = "the eager backend's layers, one feature"

    def capabilities(self):
        return Capabilities.declare(ONE_FEATURE)


class Failing(Good):
    name = "cli_failing"

    def build(self, config, context):
        layer = super().build(config, context)
        looked_up = layer.forward
        layer.forward = lambda *args, **kwargs: looked_up(*args, **kwargs) + 1.0
        return layer


class Crashing(Good):
    name = "cli_crashing"

    def build(self, config, context):
        os.kill(os.getpid(), signal.SIGKILL)


class Slow(Good):
    name = "cli_slow"

    def build(self, config, context):
        time.sleep(SLOW_BUILD_S)
        return super().build(config, context)
'''


def write_backends(folder: Path) -> dict[str, str]:
    """Write the module into ``folder``; the environment that makes it importable."""
    (folder / f"{MODULE}.py").write_text(textwrap.dedent(SOURCE), encoding="utf-8")
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path)


def spec(attr: str) -> str:
    return f"{MODULE}:{attr}"


def command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "embedspec.conformance.cli", *argv]


def embedspec(*argv: str, env: Mapping[str, str] | None = None, timeout: float = 240,
              cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command(*argv), capture_output=True, text=True, env=env,
                          timeout=timeout, check=False, cwd=cwd)


def run_together(argvs: Mapping[str, Sequence[str]], env: Mapping[str, str] | None = None,
                 timeout: float = 240, at_once: int = 8) -> dict[str, subprocess.CompletedProcess]:
    """Several ``embedspec`` command lines (by key), ``at_once`` at a time: most are
    runs that stop before anything runs, or runs of one test, and spend their time
    importing."""
    pending = list(argvs.items())
    running: list[tuple[str, subprocess.Popen]] = []
    done: dict[str, subprocess.CompletedProcess] = {}
    deadline = time.monotonic() + timeout
    while pending or running:
        while pending and len(running) < at_once:
            key, argv = pending.pop(0)
            running.append((key, subprocess.Popen(command(*argv), stdout=subprocess.PIPE,
                                                  stderr=subprocess.PIPE, text=True,
                                                  env=env)))
        key, proc = running.pop(0)
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        done[key] = subprocess.CompletedProcess(command(*argvs[key]), proc.returncode, out,
                                                err)
    return done
