"""The backend contract: what an implementation provides to be checked by embedspec.

A backend is an object with

* a ``name`` (unique in the registry) and a ``version`` string for reports;
* ``availability()``: whether it can run on this machine, with the reason when not;
* ``capabilities()``: a declaration, as data, of the (family, feature, dtype,
  device) points it supports. The conformance suite tests exactly these points;
  anything undeclared is reported as "unsupported", never as a failure;
* ``build(config, context)``: a ``torch.nn.Module`` for the family of ``config``
  (an :mod:`embedspec.reference.configs` dataclass), placed as ``context`` says.

Built modules follow the reference's parameter layout: the same ``state_dict``
keys and shapes as the reference layer built from the same configuration and
context, so the suite loads identical weights into both. They also expose the
family's public methods that the spec defines (for example ``weight_loader`` and
``get_sharded_to_full_mapping`` for vocab-parallel layers, ``packed()`` for binary
layers). A module may be a thin wrapper over a torch custom op with its own
autograd; the suite only calls the module.

Multi-process backends set ``multi_process = True``. The suite then builds one
module per rank, each in its own process, with a ``BuildContext`` carrying the
rank, the world size and the ``torch.distributed`` process groups.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from embedspec.backends.kernels import EmbeddingKernels
from embedspec.reference.configs import FAMILIES, LayerConfig

#: The composability features of each family (``docs/spec/composability.md``): the
#: program transforms its layers must support. The multi-rank families have none yet.
COMPOSABILITY_FEATURES: Mapping[str, tuple[str, ...]] = {
    "embedding": ("compile", "export", "forward_ad", "vmap", "double_backward"),
    "stable": ("compile", "export", "forward_ad", "vmap"),
    "vocab_parallel": (),
    "sharded": (),
    "binary": ("compile", "export", "forward_ad", "vmap", "double_backward"),
}

#: The features of each family: the rows of the compatibility report. A backend
#: declares support per feature; the conformance tests are tagged with one each.
FEATURES: Mapping[str, tuple[str, ...]] = {
    "embedding": ("forward", "padding_idx", "max_norm", "scale_grad_by_freq", "sparse",
                  "backward", "init", "errors", "determinism",
                  *COMPOSABILITY_FEATURES["embedding"]),
    "stable": ("forward", "padding_idx", "max_norm", "backward", "init", "errors",
               *COMPOSABILITY_FEATURES["stable"]),
    "vocab_parallel": ("forward", "added_vocab", "backward", "weight_loader", "init", "errors"),
    "sharded": ("forward", "even_partition", "local_output", "padding_idx", "max_norm",
                "scale_grad_by_freq", "backward", "data_parallel", "init", "errors"),
    "binary": ("forward", "packed", "padding_idx", "backward", "init", "errors",
               *COMPOSABILITY_FEATURES["binary"]),
}
assert set(FEATURES) == set(FAMILIES) == set(COMPOSABILITY_FEATURES)

#: Features that only a world of several processes can exercise (ranks or replicas).
MULTI_PROCESS_FEATURES: Mapping[str, tuple[str, ...]] = {"sharded": ("data_parallel",)}


def single_process_features(family: str) -> tuple[str, ...]:
    """The features of ``family`` that a single-process backend can exercise."""
    excluded = MULTI_PROCESS_FEATURES.get(family, ())
    return tuple(f for f in FEATURES[family] if f not in excluded)

DTYPES: Mapping[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
DEVICES: tuple[str, ...] = ("cpu", "cuda")


def available_devices() -> tuple[str, ...]:
    """The devices of :data:`DEVICES` torch can use here: ``cpu``, plus ``cuda`` when a
    CUDA device is visible."""
    return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``."""
    return str(dtype).removeprefix("torch.")


@dataclass(frozen=True, order=True)
class Capability:
    """One point a backend supports: e.g. ``embedding / max_norm / float16 / cpu``."""

    family: str
    feature: str
    dtype: str
    device: str

    def __str__(self) -> str:
        return f"{self.family} / {self.feature} / {self.dtype} / {self.device}"


class Capabilities:
    """An immutable set of :class:`Capability`, declared as a table.

    >>> Capabilities.declare({"embedding": {"features": "all",
    ...                                     "dtypes": ["float32"], "devices": ["cpu"]}})
    """

    def __init__(self, points: Iterable[Capability] = ()) -> None:
        points = frozenset(points)
        for p in points:
            _check_point(p)
        self._points = points

    @classmethod
    def declare(cls, table: Mapping[str, Mapping[str, Any]]) -> Capabilities:
        """Build from ``{family: {"features": [...] | "all", "dtypes": [...], "devices": [...],
        "except": [(feature, dtype, device), ...]}}``; ``"*"`` in an ``except`` entry matches any.
        """
        points = []
        for family, row in table.items():
            if family not in FEATURES:
                raise ValueError(f"unknown family {family!r}; known: {', '.join(FEATURES)}")
            unknown_keys = set(row) - {"features", "dtypes", "devices", "except"}
            if unknown_keys:
                raise ValueError(f"unknown keys {sorted(unknown_keys)} in the row of {family!r}")
            features = row.get("features", "all")
            features = FEATURES[family] if features == "all" else tuple(features)
            excluded = [tuple(e) for e in row.get("except", ())]
            for feature, dtype, device in itertools.product(
                features, row.get("dtypes", ("float32",)), row.get("devices", ("cpu",))
            ):
                if any(_matches(e, (feature, dtype, device)) for e in excluded):
                    continue
                points.append(Capability(family, feature, dtype, device))
        return cls(points)

    def supports(self, family: str, feature: str, dtype: str, device: str) -> bool:
        return Capability(family, feature, dtype, device) in self._points

    def families(self) -> list[str]:
        return sorted({p.family for p in self._points})

    def __iter__(self) -> Iterator[Capability]:
        return iter(sorted(self._points))

    def __len__(self) -> int:
        return len(self._points)

    def __contains__(self, point: object) -> bool:
        return point in self._points

    def __or__(self, other: Capabilities) -> Capabilities:
        return Capabilities(self._points | other._points)


def _matches(pattern: tuple, point: tuple) -> bool:
    if len(pattern) != len(point):
        return False
    return all(a in ("*", b) for a, b in zip(pattern, point, strict=True))


def _check_point(p: Capability) -> None:
    if p.family not in FEATURES:
        raise ValueError(f"unknown family {p.family!r} in capability {p}")
    if p.feature not in FEATURES[p.family]:
        raise ValueError(
            f"unknown feature {p.feature!r} of family {p.family!r}; "
            f"known: {', '.join(FEATURES[p.family])}"
        )
    if p.dtype not in DTYPES:
        raise ValueError(f"unknown dtype {p.dtype!r} in capability {p}; known: {', '.join(DTYPES)}")
    if p.device not in DEVICES:
        raise ValueError(f"unknown device {p.device!r} in capability {p}")


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here; ``reason`` says why not."""

    available: bool
    reason: str = ""

    @classmethod
    def yes(cls) -> Availability:
        return cls(True, "")

    @classmethod
    def no(cls, reason: str) -> Availability:
        if not reason:
            raise ValueError("an unavailable backend must give a reason")
        return cls(False, reason)


@dataclass(frozen=True)
class BuildContext:
    """Where a built layer lives.

    ``rank``/``world_size``/``group`` describe the model-parallel dimension (the
    tensor-parallel group of a vocab-parallel layer, the column shards of a sharded
    one). ``dp_rank``/``dp_size``/``dp_group`` describe data-parallel replicas of a
    sharded layer in a data-parallel x model-parallel grid (DistDL); replica 0 owns
    the weights. ``group`` and ``dp_group`` are ``torch.distributed`` process groups
    for multi-process backends and ``None`` otherwise.
    """

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    rank: int = 0
    world_size: int = 1
    group: Any = None
    dp_rank: int = 0
    dp_size: int = 1
    dp_group: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", torch.device(self.device))
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in [0, world_size={self.world_size}), got {self.rank}")
        if not 0 <= self.dp_rank < self.dp_size:
            raise ValueError(f"dp_rank must be in [0, dp_size={self.dp_size}), got {self.dp_rank}")

    @property
    def device_type(self) -> str:
        return self.device.type


class Backend(abc.ABC):
    """Base class of a backend. Subclasses set ``name`` and implement the three methods."""

    #: Unique name used by the registry, the CLI and the report.
    name: str = ""
    #: One line for ``embedspec list``.
    description: str = ""
    #: True when a built layer spans several processes (needs a process group).
    multi_process: bool = False
    #: True when backward is bitwise deterministic (S0.6); tightens gradient checks.
    deterministic_backward: bool = False
    #: Empty when ``embedspec report`` runs this backend by default; otherwise why it is
    #: opt-in (``--include NAME`` or ``--backends NAME`` runs it), e.g. a column that takes
    #: far longer than the others.
    opt_in_reason: str = ""

    @property
    def version(self) -> str:
        """Version string printed in reports; defaults to torch's."""
        return torch.__version__

    @property
    def expectations_path(self) -> Path | None:
        """The file listing this backend's known failures; None for the built-in location."""
        return None

    @property
    def gates_path(self) -> Path | None:
        """The file of this backend's performance gates (``embedspec bench``), or None for
        the built-in location (``conformance/gates/<name>.json``)."""
        return None

    def timing_caveat(self, device: str) -> str:
        """Empty when this backend's times on ``device`` (``"cpu"``, ``"cuda"``) measure
        its kernels; otherwise why they do not (an interpreter, a debug build).
        ``embedspec bench`` then skips its scenarios on that device with this reason
        instead of timing them."""
        return ""

    def divergences(self) -> Sequence[Any]:
        """The departures from the spec this backend documents
        (:class:`embedspec.backends.divergences.Divergence` objects): the report says
        which of its failures they explain. None by default."""
        return ()

    def kernels(self) -> EmbeddingKernels | None:
        """Per-rank kernels lent to composite (e.g. distributed) backends; None if none."""
        return None

    @abc.abstractmethod
    def availability(self) -> Availability:
        """Whether this backend can run on this machine, with the reason when not."""

    @abc.abstractmethod
    def capabilities(self) -> Capabilities:
        """The (family, feature, dtype, device) points this backend supports."""

    @abc.abstractmethod
    def build(self, config: LayerConfig, context: BuildContext) -> torch.nn.Module:
        """A layer for ``config``'s family, laid out like the reference layer."""

    def __repr__(self) -> str:
        return f"<backend {self.name!r}>"
