"""What an embedding case must observe (S1), from the reference layer.

* A bad configuration (S0.5) or input (S0.2, S0.3): the reference's error class, the
  state left as loaded (S0.4).
* ``build``: the reference's state layout.
* A forward: the output is a gather, exact in every dtype; without ``max_norm`` the
  table is unchanged. With ``max_norm`` only referenced rows may change, each within
  the renorm bound of the reference's (ambiguous rows either way, S1.2), and the output
  is bitwise the rows the backend stored. The weight gradient is within its
  accumulation bound (S0.7).
"""

from __future__ import annotations

from embedspec.conformance.checks import tolerance
from embedspec.conformance.checks.case import Case, RankOutcome
from embedspec.conformance.checks.expected.common import (
    error_class,
    padding_row,
    reference_outcome,
    renorm_allowance,
)
from embedspec.conformance.checks.expected.model import Expected, Renorm, StoredRows


def settled(case: Case) -> tuple[RankOutcome, Expected | None]:
    """The reference's outcome of ``case``, and the expectation when that already
    settles it: an error, or a build (state layout only)."""
    reference = reference_outcome(case)
    if reference.error is not None:
        return reference, Expected(error=error_class(reference.error),
                                   state_before=case.states[0] if case.states else None)
    if case.action == "build":
        return reference, Expected(state_layout=reference.state_after)
    return reference, None


def table_renorm(case: Case, reference: RankOutcome) -> Renorm | None:
    """The renorm allowance of the ``weight`` table after a forward, if ``max_norm``."""
    config = case.config
    if config.max_norm is None:
        return None
    before = case.states[0]["weight"]
    return renorm_allowance(before, case.inputs[0], config.max_norm, config.norm_type,
                            before, reference.state_after["weight"])


def weight_gradient_bound(case: Case, reference: RankOutcome) -> tolerance.Bound:
    """The S0.7 bound of the table's gradient of a lookup (S1.3-S1.5)."""
    config = case.config
    return tolerance.weight_gradient(
        case.inputs[0], case.grad_outputs[0], config.num_embeddings,
        padding_idx=padding_row(config), scale_grad_by_freq=config.scale_grad_by_freq,
        dtype=reference.grads["weight"].dtype)


def expected(case: Case) -> list[Expected]:
    """The one process's :class:`Expected` of an embedding ``case``."""
    reference, done = settled(case)
    if done is not None:
        return [done]
    renorm = table_renorm(case, reference)
    want = Expected(state_after=reference.state_after, renorm=renorm,
                    output=reference.output,
                    output_reads=StoredRows(case.inputs[0]) if renorm is not None else None)
    if case.grad_outputs is not None:
        want.grads = reference.grads
        want.grad_bounds = {"weight": weight_gradient_bound(case, reference)}
    return [want]
