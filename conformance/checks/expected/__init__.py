"""Expected outcomes: for a :class:`~embedspec.conformance.checks.case.Case`, one
:class:`Expected` per process of its world, carrying the reference's values *and*
their S0.7 bounds, computed here and nowhere else.

One module per family states that family's rules (:mod:`.embedding`, :mod:`.stable`,
:mod:`.binary`, :mod:`.vocab_parallel`, :mod:`.sharded`); :mod:`.transformed` adds what a
forward under a program transform must observe; :mod:`.common` holds what they share
and :mod:`.model` the data they return.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import hypothesis
import torch
from embedspec.conformance.checks.case import Case
from embedspec.conformance.checks.expected import (
    binary,
    embedding,
    sharded,
    stable,
    transformed,
    vocab_parallel,
)
from embedspec.conformance.checks.expected.common import build_reference, state_layout
from embedspec.conformance.checks.expected.model import Expected, Renorm, StoredRows

__all__ = [
    "FAMILIES",
    "Expected",
    "Renorm",
    "StoredRows",
    "build_reference",
    "expected_outcomes",
    "reject_overflow",
    "state_layout",
]

#: The expectation of a case, by the family of its configuration.
FAMILIES: Mapping[str, Callable[[Case], list[Expected]]] = {
    "embedding": embedding.expected,
    "stable": stable.expected,
    "binary": binary.expected,
    "vocab_parallel": vocab_parallel.expected,
    "sharded": sharded.expected,
}


def expected_outcomes(case: Case) -> list[Expected]:
    """Every process's :class:`Expected` for ``case``, in process order."""
    try:
        family = FAMILIES[case.config.family]
    except KeyError:
        raise ValueError(f"no expectation for family {case.config.family!r}") from None
    if case.config.family in ("embedding", "stable", "binary") and case.world.nprocs != 1:
        raise ValueError(f"{case.config.family} is a single-process family; got world "
                         f"{case.world}")
    if case.transform is not None:
        return transformed.expected(case, family)
    return family(case)


def reject_overflow(expected: list[Expected]) -> None:
    """Discard (as a hypothesis example outside the domain) a case whose reference
    overflows its dtype in a value compared within a bound: the tolerance policy is
    stated for finite results, and where an accumulation overflows, legitimate orders
    disagree on inf or NaN. (Exact values, such as a checkpoint cast on load, may be
    infinite.)"""
    if not all(bool(torch.isfinite(t).all()) for want in expected
               for t in want.bounded_values()):
        hypothesis.reject()
