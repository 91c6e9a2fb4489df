"""Documented divergences: the departures from the spec a backend knows it has and
publishes, so that the compatibility report can tell its explained failures from new
ones (:meth:`embedspec.backends.contract.Backend.divergences`).

A :class:`Divergence` names one departure (an id such as ``D-index-dtype``, the spec
rule it breaks, a one-line description) and the report rows (family / feature, and
dtypes where it is restricted) in which a check of that rule is expected to fail. A
failing test is explained by the divergences whose rows hold it; an expected failure
whose reason names divergence ids is explained by those alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from embedspec.backends.contract import DTYPES, FEATURES


@dataclass(frozen=True)
class Divergence:
    """One departure of a backend from the spec.

    ``rows`` are ``(family, feature)`` rows of the compatibility report where it shows;
    ``dtypes`` restricts it to some dtypes (empty: every dtype).
    """

    id: str
    rule: str
    description: str
    rows: tuple[tuple[str, str], ...]
    dtypes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.id or not self.description:
            raise ValueError("a divergence needs an id and a description")
        for family, feature in self.rows:
            if feature not in FEATURES.get(family, ()):
                raise ValueError(f"{self.id}: unknown report row {family} / {feature}")
        for dtype in self.dtypes:
            if dtype not in DTYPES:
                raise ValueError(f"{self.id}: unknown dtype {dtype!r}")

    def applies_to(self, family: str, feature: str, dtype: str) -> bool:
        """Whether a check of ``family / feature`` in ``dtype`` is expected to show it."""
        return (family, feature) in self.rows and (not self.dtypes or dtype in self.dtypes)


def expected_at(family: str, feature: str, dtype: str,
                divergences: Iterable[Divergence]) -> list[Divergence]:
    """The divergences a check of ``family / feature`` in ``dtype`` is expected to show."""
    return [d for d in divergences if d.applies_to(family, feature, dtype)]
