"""The performance section of the compatibility report (``embedspec report --bench``):
each backend's quick bench set, run in its own process like its conformance run, and
its table and growth tables under the report's "Performance" heading."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

STATUS_TEXT = {0: "every gate holds", 1: "a gate fails or an output was wrong"}


def bench_command(backend: str, device: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "embedspec.conformance.cli", "bench", "--backend", backend,
            "--scenarios", "quick", "--device", device, "--out", str(out)]


def bench_backends(backends: Iterable[str], *, device: str, out: Path,
                   timeout_s: float) -> list[dict[str, Any]]:
    """Bench each backend's quick set in a child process; one entry per backend with its
    exit status, its ``bench.md`` and, when it did not run, the reason."""
    entries = []
    for name in backends:
        folder = out / "bench" / name
        (folder / "bench.md").unlink(missing_ok=True)
        print(f"bench {name}: started", flush=True)
        try:
            proc = subprocess.run(bench_command(name, device, folder), stderr=subprocess.PIPE,
                                  text=True, timeout=timeout_s, check=False)
            status, reason = proc.returncode, proc.stderr.strip().splitlines()[-1:] or [""]
            reason = reason[0]
        except subprocess.TimeoutExpired:
            status, reason = -1, f"no result after {timeout_s:g} s; the run was stopped"
        markdown = (folder / "bench.md").read_text(encoding="utf-8") \
            if status in (0, 1) and (folder / "bench.md").exists() else ""
        entries.append({"backend": name, "exit_status": status, "markdown": markdown,
                        "reason": reason if not markdown else ""})
        print(f"bench {name}: exit {status}", flush=True)
    return entries


def render_section(entries: Iterable[Mapping[str, Any]]) -> str:
    """``## Performance``: per backend its verdict, then its bench tables one level down."""
    blocks = []
    for entry in entries:
        status = entry["exit_status"]
        head = f"### {entry['backend']}: " + STATUS_TEXT.get(status, "not benchmarked")
        if not entry["markdown"]:
            blocks.append(f"{head}\n\n{entry['reason'] or f'exit status {status}'}")
            continue
        body = entry["markdown"].split("\n", 1)[1].strip()  # without its own title
        blocks.append(f"{head}\n\n" + re.sub(r"^(#+) ", r"\1## ", body, flags=re.MULTILINE))
    if not blocks:
        return ""
    return ("## Performance\n\nEach backend's quick bench set (`embedspec bench --scenarios "
            "quick`): times against torch.nn, torch.compile and eager, measured in one run; "
            "see docs/performance.md.\n\n" + "\n\n".join(blocks))
