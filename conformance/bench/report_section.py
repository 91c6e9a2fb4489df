"""``embedspec report --bench``: each backend's quick bench set, run in its own process
like its conformance run. The report reads the ``bench.json`` files it leaves
(:func:`embedspec.conformance.report.performance_data.load_bench_results`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path


def bench_command(backend: str, device: str, out: Path) -> list[str]:
    """The command that benches ``backend``'s quick set into ``out``."""
    return [sys.executable, "-m", "embedspec.conformance.cli", "bench", "--backend", backend,
            "--scenarios", "quick", "--device", device, "--out", str(out)]


def bench_backends(backends: Iterable[str], *, device: str, out: Path, timeout_s: float
                   ) -> tuple[list[Path], list[tuple[str, str]]]:
    """Bench each backend into ``out/bench/<name>``: the folders holding a fresh
    ``bench.json`` (exit 0 or 1: gates judged), and (name, reason) of the backends that
    could not be benchmarked (exit 2, e.g. multi-process backends, or a time-out)."""
    folders, not_run = [], []
    for name in backends:
        folder = out / "bench" / name
        (folder / "bench.json").unlink(missing_ok=True)
        print(f"bench {name}: started", flush=True)
        try:
            proc = subprocess.run(bench_command(name, device, folder), stderr=subprocess.PIPE,
                                  text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            not_run.append((name, f"no result after {timeout_s:g} s; the run was stopped"))
            continue
        print(f"bench {name}: exit {proc.returncode}", flush=True)
        if proc.returncode in (0, 1) and (folder / "bench.json").exists():
            folders.append(folder)
        else:
            last = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            not_run.append((name, last[0]))
    return folders, not_run
