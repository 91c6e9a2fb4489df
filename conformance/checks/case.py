"""Cases and outcomes: the unit of work the conformance suite hands to a backend.

A :class:`Case` runs on a :class:`World` of P processes: P = 1 for every
single-process family and backend, more for the multi-rank families on a
multi-process backend. It is plain data (picklable), so the same case runs in this
process (:class:`~embedspec.conformance.checks.execute.LocalRunner`) or is shipped to
every rank of a world by a distributed runner. Each process builds the backend's
layer for the case's configuration, loads its state, performs the case's action and
reports a :class:`RankOutcome`; :mod:`~embedspec.conformance.checks.compare` judges
every outcome against its :class:`~embedspec.conformance.checks.expected.Expected`.

Process order in a world: ``proc = dp_rank * world.size + rank``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from embedspec.reference.configs import LayerConfig

Action = Literal["build", "forward", "forward_packed", "weight_loader", "packed",
                 "mapping", "reset_parameters", "from_pretrained"]
#: The program transforms a forward can run under (``docs/spec/composability.md``).
Transform = Literal["compile", "export", "forward_ad", "vmap", "double_backward"]
TRANSFORMS: tuple[str, ...] = ("compile", "export", "forward_ad", "vmap", "double_backward")


@dataclass(frozen=True)
class World:
    """``size`` model-parallel ranks times ``dp_size`` data-parallel replicas."""

    size: int = 1
    dp_size: int = 1

    @property
    def nprocs(self) -> int:
        return self.size * self.dp_size

    def coords(self, proc: int) -> tuple[int, int]:
        """``(dp_rank, rank)`` of process ``proc``."""
        return divmod(proc, self.size)

    def __str__(self) -> str:
        return f"{self.dp_size}x{self.size}" if self.dp_size > 1 else str(self.size)


@dataclass
class Case:
    """One conformance check's input, for every process of a world.

    ``states``, ``inputs`` and ``grad_outputs`` hold one entry per process.
    Actions: ``build`` (construct only; for configuration errors), ``forward``
    (forward, then backward when ``grad_outputs`` is given), ``forward_packed``
    (``layer.forward_packed(indices)``: the binary family's packed path), ``weight_loader``
    (call ``layer.weight_loader(layer.weight, loaded_weight)``), ``packed``
    (call ``layer.packed()`` and report its tensors), ``mapping`` (call
    ``layer.get_sharded_to_full_mapping()``: a vocab-parallel layer's row order),
    ``reset_parameters`` (load the state, then call ``layer.reset_parameters()``),
    ``from_pretrained`` (build, then make the layer ``type(layer).from_pretrained(table,
    freeze=freeze, ...)`` on the process's state ``weight`` and the configuration's lookup
    options, and run the forward on it).
    ``inputs`` are index tensors, or any other object a test hands a layer (S0.2).
    ``default_dtype``: the global default dtype while the layer is built and run
    (restored afterwards).
    ``repeat`` runs the forward that many times (determinism checks); every
    output is kept in ``RankOutcome.extra["outputs"]``. ``write_output`` overwrites
    every element of the forward output in place after the backward, so a layer whose
    output aliases its parameters shows it in ``state_after`` (S0.1).
    ``transform`` runs a ``forward`` under a program transform
    (:mod:`~embedspec.conformance.checks.transforms`): ``compile``
    (``torch.compile(fullgraph=True, dynamic=False)`` with the ``compiler`` backend),
    ``export`` (``torch.export.export``, then the exported program; no backward),
    ``forward_ad`` (``torch.func.jvp`` with respect to the parameters, in the directions
    ``tangents``), ``vmap`` (``torch.func.vmap`` over dim 0 of the indices, and per-sample
    gradients from the rows of ``grad_outputs``) or ``double_backward`` (the backward with
    ``create_graph=True``, then its derivative against the directions ``tangents``, one
    per parameter). ``tangents`` hold one ``{parameter name: tensor}`` per process.
    """

    config: LayerConfig
    states: list[dict[str, torch.Tensor]] = field(default_factory=list)
    inputs: list[Any] = field(default_factory=list)
    grad_outputs: list[torch.Tensor] | None = None
    world: World = field(default_factory=World)
    device: str = "cpu"
    action: Action = "forward"
    loaded_weight: torch.Tensor | None = None
    repeat: int = 1
    write_output: bool = False
    default_dtype: torch.dtype | None = None
    freeze: bool = True
    transform: Transform | None = None
    tangents: list[dict[str, torch.Tensor]] | None = None
    compiler: str = "aot_eager"


@dataclass
class ErrorInfo:
    """An exception a backend raised: its class, message, the class's bases (most
    derived first: ``IndexError``, ``LookupError``, ...), what the process was doing
    (``"build"`` or the case's action) and the backend's traceback, innermost frames
    last."""

    type: str
    message: str
    mro: tuple[str, ...] = ()
    during: str = ""
    traceback: str = ""

    def is_a(self, cls: type[BaseException]) -> bool:
        return cls.__name__ in self.mro


@dataclass
class RankOutcome:
    """What one process observed."""

    output: torch.Tensor | None = None
    grads: dict[str, torch.Tensor | None] = field(default_factory=dict)
    state_after: dict[str, torch.Tensor] = field(default_factory=dict)
    error: ErrorInfo | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Runner(Protocol):
    """Runs a case on every process of its world and returns the outcomes in process order."""

    def supports(self, world: World) -> bool: ...

    def run(self, case: Case) -> list[RankOutcome]: ...
