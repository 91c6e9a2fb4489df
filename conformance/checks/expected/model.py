"""The expectation of one process: what the reference says it must observe, with the
S0.7 bound of every value that is not exact, all computed before the backend runs.

A field left ``None`` is not checked. The comparison
(:mod:`~embedspec.conformance.checks.compare`) reads nothing but these fields, so a
family's rules live in its expectation module alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from embedspec.conformance.checks.tolerance import Bound


@dataclass(frozen=True)
class Renorm:
    """What a ``max_norm`` renormalisation allows of a stored table (S1.2, S4.4).

    ``loaded``: the table as loaded.
    ``may_change``: the rows that may differ from the table as loaded (renormalised by
    the reference, or ambiguous); every other row must stay bitwise as loaded.
    ``ambiguous``: rows whose norm lies within rounding of ``max_norm``, where an
    implementation may decide either way; ``alternative`` holds, at those rows, the
    other acceptable value (the reference's value elsewhere). ``bound``: per element
    of the stored table.
    """

    loaded: torch.Tensor
    may_change: torch.Tensor
    ambiguous: torch.Tensor
    alternative: torch.Tensor
    bound: Bound


@dataclass(frozen=True)
class StoredRows:
    """An output that must be, bitwise, the rows the backend itself stored: the
    ``weight`` states of processes ``owners`` concatenated along the columns, indexed
    by ``ids``, restricted to ``columns`` when given."""

    ids: torch.Tensor
    owners: tuple[int, ...] = (0,)
    columns: tuple[int, int] | None = None


@dataclass
class Expected:
    """What one process must observe.

    * ``error``: the class every process must raise (subclasses count); its message
      must name ``mentions`` when given; ``state_before`` is then the state that must
      be left exactly as loaded (S0.4).
    * ``state_layout``: the state dict's keys, shapes and dtypes (values unchecked).
    * ``state_after``: the state after the action, bitwise, except ``renorm``'s
      ``weight`` rows.
    * ``output``: the output's shape and dtype, and its values: exact, within
      ``output_bound``, or the backend's own stored rows (``output_reads``).
    * ``grads``: every gradient, within ``grad_bounds`` (an absent bound: exact).
    * ``packed``: a binary layer's packed table, within ``packed_bounds``.
    * ``reports``: values the process reports besides tensors (a vocab-parallel layer's
      row mapping, under ``"mapping"``), each equal to the reference's.
    * ``tangent``: the output's forward-mode tangent (``forward_ad``), within
      ``tangent_bound`` (none: exact).
    * ``second_order``: the derivatives of a double backward (``"grad_output"`` and every
      trainable parameter), each within its ``second_order_bounds`` entry (none: exact).
    """

    error: type[BaseException] | None = None
    mentions: str | None = None
    state_before: dict[str, torch.Tensor] | None = None
    state_layout: dict[str, torch.Tensor] | None = None
    state_after: dict[str, torch.Tensor] | None = None
    renorm: Renorm | None = None
    output: torch.Tensor | None = None
    output_bound: Bound | None = None
    output_reads: StoredRows | None = None
    grads: dict[str, torch.Tensor | None] | None = None
    grad_bounds: dict[str, Bound] | None = None
    packed: dict[str, torch.Tensor] | None = None
    packed_bounds: dict[str, Bound] | None = None
    reports: dict[str, object] | None = None
    tangent: torch.Tensor | None = None
    tangent_bound: Bound | None = None
    second_order: dict[str, torch.Tensor] | None = None
    second_order_bounds: dict[str, Bound] | None = None

    def bounded_values(self) -> list[torch.Tensor]:
        """Every floating value the reference computed that is compared within a bound
        (an accumulation), for the overflow rule; exact values may be infinite."""
        found = [self.output] if self.output is not None and self.output_bound is not None \
            else []
        for grad in (self.grads or {}).values():
            if grad is not None:
                found.append(grad.coalesce().values() if grad.layout == torch.sparse_coo
                             else grad)
        if self.renorm is not None and self.state_after is not None:
            found.append(self.state_after["weight"])
        found.extend(v for k, v in (self.packed or {}).items() if k in (self.packed_bounds or {}))
        if self.tangent is not None and self.tangent_bound is not None:
            found.append(self.tangent)
        found.extend(v for k, v in (self.second_order or {}).items()
                     if k in (self.second_order_bounds or {}))
        return [t for t in found if t.is_floating_point()]
