"""Performance gates as data: a JSON file per backend.

::

    {
      "backend": "eager",
      "gates": [
        {"scenario": "*/forward/*", "metric": "speedup", "baseline": "torch.nn",
         "threshold": 0.9, "reason": "the spec's checks may not slow the gather"},
        {"scenario": "gpt2/forward/8192", "metric": "roofline", "threshold": 0.5,
         "devices": ["cuda"], "threads": [1]}
      ]
    }

``scenario`` is a scenario name or a glob over the names (``*/forward/*``);
``metric`` is ``speedup`` (the baseline's time over the backend's, best rounds; ``baseline``
is one of ``torch.nn``, ``torch.compile``, ``eager``) or ``roofline`` (the fraction of
the measured copy bandwidth); the gate asks ``metric >= threshold``. ``devices``
(``cpu``, ``cuda``) and ``threads`` (torch's intra-op thread counts) restrict where a
gate applies; a gate that names no scenario of the full set is *stale* and reported,
like a stale expectation.

Where the file is: the backend's ``gates_path`` if it has one, else
``conformance/gates/<backend name>.json`` for the built-in backends, else none.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .baselines import BASELINES

#: Where the built-in backends' gate files live: ``<dir>/<backend name>.json``.
GATES_DIR = Path(__file__).resolve().parent.parent / "gates"
METRICS = ("speedup", "roofline")
_KEYS = {"scenario", "metric", "baseline", "threshold", "devices", "threads", "reason"}


class GateFileError(ValueError):
    """A gate file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Gate:
    """``metric`` (against ``baseline``) >= ``threshold`` on the scenarios ``scenario``
    matches, on ``devices`` and ``threads`` (None: any)."""

    scenario: str
    metric: str
    threshold: float
    baseline: str | None = None
    devices: tuple[str, ...] | None = None
    threads: tuple[int, ...] | None = None
    reason: str = ""

    def matches(self, scenario_name: str) -> bool:
        return fnmatch.fnmatchcase(scenario_name, self.scenario)

    def applies(self, device: str, threads: int) -> bool:
        return ((self.devices is None or device in self.devices)
                and (self.threads is None or threads in self.threads))

    def describe(self) -> str:
        what = f"speedup vs {self.baseline}" if self.metric == "speedup" else "roofline"
        return f"{what} >= {self.threshold:g}"


@dataclass(frozen=True)
class GateFile:
    path: Path
    backend: str
    gates: tuple[Gate, ...]

    def stale(self, scenario_names: Iterable[str]) -> list[Gate]:
        """The gates that match none of ``scenario_names`` (the full set's)."""
        names = list(scenario_names)
        return [g for g in self.gates if not any(g.matches(n) for n in names)]


def default_gates_path(backend: object) -> Path | None:
    """The backend's gate file: its ``gates_path``, else the built-in file if one exists."""
    own = getattr(backend, "gates_path", None)
    if own is not None:
        return Path(own)
    builtin = GATES_DIR / f"{getattr(backend, 'name', '')}.json"
    return builtin if builtin.is_file() else None


def load_gates(path: str | Path) -> GateFile:
    """Read and validate a gate file (:class:`GateFileError` naming the problem)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise GateFileError(f"{path}: cannot read the gate file: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("gates"), list):
        raise GateFileError(f"{path}: expected an object with a 'gates' list")
    gates = tuple(_gate(entry, f"{path}: gate {i}") for i, entry in enumerate(data["gates"]))
    return GateFile(path, str(data.get("backend", "")), gates)


def _gate(entry: Any, where: str) -> Gate:
    if not isinstance(entry, dict):
        raise GateFileError(f"{where}: expected an object, got {entry!r}")
    unknown = set(entry) - _KEYS
    if unknown:
        raise GateFileError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    scenario, metric = entry.get("scenario"), entry.get("metric")
    if not isinstance(scenario, str) or not scenario:
        raise GateFileError(f"{where}: 'scenario' must be a scenario name or glob")
    if metric not in METRICS:
        raise GateFileError(f"{where}: 'metric' must be one of {', '.join(METRICS)}, "
                            f"got {metric!r}")
    threshold = entry.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold <= 0:
        raise GateFileError(f"{where}: 'threshold' must be a positive number, got {threshold!r}")
    baseline = entry.get("baseline")
    if metric == "speedup" and baseline not in BASELINES:
        raise GateFileError(f"{where}: a speedup gate names its 'baseline', one of "
                            f"{', '.join(BASELINES)}; got {baseline!r}")
    if metric == "roofline" and baseline is not None:
        raise GateFileError(f"{where}: a roofline gate has no 'baseline'")
    return Gate(scenario, metric, float(threshold), baseline,
                _tuple(entry.get("devices"), str, f"{where}: 'devices'"),
                _tuple(entry.get("threads"), int, f"{where}: 'threads'"),
                str(entry.get("reason", "")))


def _tuple(value: Any, kind: type, where: str) -> tuple | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise GateFileError(f"{where} must be a list of {kind.__name__}, got {value!r}")
    return tuple(value)
