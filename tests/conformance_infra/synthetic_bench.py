"""A synthetic ``bench.json`` (format ``embedspec-bench/1``, as ``embedspec bench``
writes it) for the report's performance section and history."""

from __future__ import annotations

from typing import Any


def _timing(name: str, role: str, best: float | None, error: str | None = None) -> dict:
    stats = None if best is None else {"min": best, "median": best * 1.05, "max": best * 1.2,
                                       "rounds": 9, "calls_per_round": 100}
    return {"name": name, "role": role, "stats": stats, "peak_bytes": 4096, "setup_s": 0.1,
            "error": error}


def scenario(name: str, backend: str, mine: float, nn: float, compiled: float | None,
             copy: float, status: str = "ok", reason: str = "") -> dict[str, Any]:
    return {
        "scenario": name, "description": f"{name} description", "operation": "forward",
        "backend": backend, "status": status, "reason": reason, "bytes": 1 << 20,
        "formula": "ids x dim x 4", "rerun": False,
        "timings": {
            backend: _timing(backend, "backend", mine if status == "ok" else None),
            "torch.nn": _timing("torch.nn", "baseline", nn),
            "torch.nn (A/A)": _timing("torch.nn (A/A)", "aa", nn * 1.01),
            "torch.compile": _timing("torch.compile", "baseline", compiled,
                                     None if compiled else "inductor failed"),
            "copy": _timing("copy", "copy", copy),
        },
    }


def bench_run(backend: str = "eager", speed: float = 1.0) -> dict[str, Any]:
    """``speed`` scales the backend's times down (2.0: twice as fast as speed 1.0)."""
    return {
        "format": "embedspec-bench/1", "backend": backend, "version": "0.1.0", "device": "cpu",
        "clock": "wall", "threads": 2, "band": 0.03,
        "scenarios": [
            scenario("gpt2/forward/8192", backend, 2e-4 / speed, 2.2e-4, 1.8e-4, 1e-4),
            scenario("t5/fwd_bwd/4096", backend, 5e-4 / speed, 4e-4, None, 1.5e-4),
            scenario("rec-4m-64/forward/65536", backend, 0.0, 0.0, 0.0, 0.0,
                     status="skipped", reason="does not fit memory <b>here</b>"),
        ],
        "gates": [
            {"scenario": "gpt2/forward/8192", "gate": "speedup vs torch.nn >= 0.9",
             "threshold": 0.9, "value": 1.1, "verdict": "holds", "rerun_value": None,
             "reason": ""},
            {"scenario": "t5/fwd_bwd/4096", "gate": "speedup vs torch.nn >= 0.9",
             "threshold": 0.9, "value": 0.8, "verdict": "fails", "rerun_value": 0.79,
             "reason": "below the threshold by more than the noise band"},
        ],
        "gates_path": "conformance/gates/eager.json", "stale_gates": [],
        "growth": [{
            "axis": "ids", "fixed": "T5 table 32128 x 512",
            "points": [{"x": x, "times": {"backend": 1e-6 * x / speed + 5e-6,
                                          "torch.nn": 1e-6 * x + 4e-6}}
                       for x in (1, 10, 100, 1000, 10_000, 100_000)],
            "slopes": {"backend": 0.98, "torch.nn": 1.0}, "fit_from": 1000,
        }],
        "compile_s": 12.0, "duration_s": 95.0,
        "versions": {"torch": "2.13.0"},
    }
