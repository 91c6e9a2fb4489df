"""The bytes an operation must move, and the roofline: a copy of as many bytes.

Sizes: ``N`` ids per call, ``U`` distinct ids among them (``U = N`` when no id repeats;
a row read twice in one call comes from cache), ``V`` rows, ``D`` columns; ``s_w``,
``s_o``, ``s_i`` the bytes of one weight, output and index element. Every formula
counts each tensor the operation must read or write once, at its minimum (a fused
kernel's traffic); temporaries an implementation makes are its own cost.

* ``forward``, ``max_norm``, ``binary``, ``vocab_parallel``:
  ``U*D*s_w + N*D*s_o + N*s_i`` (read the rows, write the output, read the ids);
* ``fwd_bwd``: the forward ``+ N*D*s_o + V*D*s_w + N*s_i`` (read the output
  gradient, write the dense ``(V, D)`` gradient, read the ids again);
* ``sparse_bwd``: the forward alone. The scenario's layer has no padding row, so every
  position is an entry of the sparse gradient (S1.4), whose values can be the output
  gradient itself and whose indices the ids (torch's sparse backward builds it so):
  nothing more need move;
* ``stable``: ``fwd_bwd`` ``+ U*D*s_w + 16*D`` (re-read the rows for the norm's
  backward; read the norm's two float32 parameters and write their gradients).

With ``U = N`` the forward formula is ``N*D*(s_w + s_o) + N*s_i``. ``max_norm`` counts
the steady state: the referenced rows are already within the norm (the warm-up
renormalised them), so nothing is written back. ``binary`` reads the latent rows.

The roofline is *measured*: in the same rounds as the implementations, a
``copy_`` of ``bytes / 2`` bytes into another ``bytes / 2`` (``bytes`` moved) is timed,
and an implementation's roofline fraction is ``copy time / its time``, its achieved
bandwidth over this device's copy bandwidth at that size. A fraction above one
(beyond the run's noise band) is *suspect*: it moved fewer bytes than the operation
needs, so it skipped work or reused an answer, and it is never reported as a win.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Sizes:
    """The sizes the byte formulas use (see the module docstring)."""

    N: int
    U: float
    V: int
    D: int
    s_w: int
    s_o: int
    s_i: int


def _gather(z: Sizes) -> float:
    return z.U * z.D * z.s_w + z.N * z.D * z.s_o + z.N * z.s_i


def _dense_backward(z: Sizes) -> float:
    return z.N * z.D * z.s_o + z.V * z.D * z.s_w + z.N * z.s_i


#: operation -> (bytes, the formula as text)
FORMULAS: dict[str, tuple[Callable[[Sizes], float], str]] = {
    "forward": (_gather, "U*D*s_w + N*D*s_o + N*s_i"),
    "max_norm": (_gather, "U*D*s_w + N*D*s_o + N*s_i"),
    "binary": (_gather, "U*D*s_w + N*D*s_o + N*s_i"),
    "vocab_parallel": (_gather, "U*D*s_w + N*D*s_o + N*s_i"),
    "fwd_bwd": (lambda z: _gather(z) + _dense_backward(z),
                "U*D*s_w + 2*N*D*s_o + V*D*s_w + 2*N*s_i"),
    "sparse_bwd": (_gather, "U*D*s_w + N*D*s_o + N*s_i"),
    "stable": (lambda z: _gather(z) + _dense_backward(z) + z.U * z.D * z.s_w + 16 * z.D,
               "2*U*D*s_w + 2*N*D*s_o + V*D*s_w + 2*N*s_i + 16*D"),
}


def bytes_moved(operation: str, sizes: Sizes) -> int:
    """The bytes ``operation`` must move at ``sizes`` (``KeyError`` for an unknown one)."""
    return int(FORMULAS[operation][0](sizes))


def copy_probe(nbytes: int, device: torch.device) -> Callable[[], torch.Tensor]:
    """A call that copies ``nbytes // 2`` bytes into another buffer: ``nbytes`` moved."""
    half = max(1, nbytes // 2)
    source = torch.ones(half, dtype=torch.uint8, device=device)
    target = torch.zeros_like(source)
    return lambda: target.copy_(source)


def roofline_fraction(time_s: float, copy_time_s: float) -> float:
    """The fraction of the measured copy bandwidth an implementation reached."""
    return copy_time_s / time_s


def is_suspect(fraction: float, band: float) -> bool:
    """Faster than copying the bytes the operation must move, beyond the noise band."""
    return fraction > 1.0 + band
