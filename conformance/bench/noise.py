"""The run's noise band, from an A/A measurement, and the rule a gate is judged by.

Every scenario times its ``torch.nn`` baseline twice, as two implementations in the
same interleaved rounds (``torch.nn`` and ``torch.nn (A/A)``: the same module, the same
ids). Their ratio would be 1 on a quiet machine; its deviation ``|t_a / t_b - 1|``
(of their best rounds, as every ratio) is the scenario's A/A deviation, and the run's
noise band is the median of the deviations over the run's scenarios. (Not their
maximum: on a machine shared with other work one disturbed scenario would widen the
band until no gate could fail; the re-run below is what protects a gate from one
disturbed measurement.)

A gate ``value >= threshold`` then

* *holds* when the value reaches the threshold;
* *holds within noise* when it falls short by no more than the band
  (``value >= threshold * (1 - band)``);
* is *below* otherwise: the scenario is measured again, once, and the gate *fails*
  only if the re-run is below too, by more than the same band.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

HOLDS = "holds"
WITHIN_NOISE = "holds within noise"
BELOW = "below"


def aa_deviation(time_a: float, time_b: float) -> float:
    """``|time_a / time_b - 1|``: how far apart two timings of the same thing are."""
    return abs(time_a / time_b - 1.0)


def run_band(deviations: Iterable[float | None]) -> float:
    """The run's noise band: the median A/A deviation (0 when none was measured)."""
    measured = [d for d in deviations if d is not None]
    return statistics.median(measured) if measured else 0.0


def judge(value: float, threshold: float, band: float) -> str:
    """:data:`HOLDS`, :data:`WITHIN_NOISE` or :data:`BELOW` (see the module docstring)."""
    if value >= threshold:
        return HOLDS
    if value >= threshold * (1.0 - band):
        return WITHIN_NOISE
    return BELOW
