"""The check pipeline of the conformance suite, one path for every world size.

A test draws a :class:`Case` (from :mod:`embedspec.conformance.strategies`) and calls
a check of :mod:`.engine` on the plugin's ``target``::

    check(target, data.draw(xs.embedding_cases(dtype, max_norm=True), label="case"))

The modules, in the order a case meets them: :mod:`.case` (the data model),
:mod:`.expected` (per family, the reference's values and their S0.7 bounds, from
:mod:`.tolerance`), :mod:`.target` and :mod:`.execute` (running the case on the
backend), :mod:`.compare` (one comparison for every world, with :mod:`.assertions`),
:mod:`.diagnostics` and :mod:`.repro` (what a failure carries). :mod:`.states` says what
every process of a world loads; :mod:`.init_statistics` the laws of initialisation.
"""

from embedspec.conformance.checks.case import Case, ErrorInfo, RankOutcome, Runner, World
from embedspec.conformance.checks.engine import (
    check,
    check_initialisation,
    check_packed_agreement,
    check_repeatable,
    fill_with_constant,
)
from embedspec.conformance.checks.execute import LocalRunner, execute
from embedspec.conformance.checks.target import Target, target_for

__all__ = [
    "Case",
    "ErrorInfo",
    "LocalRunner",
    "RankOutcome",
    "Runner",
    "Target",
    "World",
    "check",
    "check_initialisation",
    "check_packed_agreement",
    "check_repeatable",
    "execute",
    "fill_with_constant",
    "target_for",
]
