"""What a binary case must observe (S5).

A forward (latent or ``forward_packed``) returns ``±scale`` per bit, within the
per-row bound of the reference's scale, leaves the state exactly as loaded and has the
straight-through gradient within its bound; ``packed()`` gives the normative bit
layout exactly and the scales within their bound. Errors and builds as for an
embedding.
"""

from __future__ import annotations

from embedspec.conformance.checks import tolerance
from embedspec.conformance.checks.case import Case
from embedspec.conformance.checks.expected.common import padding_row
from embedspec.conformance.checks.expected.embedding import settled
from embedspec.conformance.checks.expected.model import Expected
from embedspec.reference import pack


def expected(case: Case) -> list[Expected]:
    """The one process's :class:`Expected` of a binary ``case``."""
    reference, done = settled(case)
    if done is not None:
        return [done]
    config = case.config
    if case.action == "packed":
        scale = reference.extra["packed"]["scale"]
        return [Expected(state_after=reference.state_after, packed=reference.extra["packed"],
                         packed_bounds={"scale": tolerance.binary_scale(
                             scale, config.embedding_dim)})]
    _, scale = pack(case.states[0]["weight"], config.padding_idx, centre=config.centre)
    bound = tolerance.binary_output(scale, config.embedding_dim, dtype=reference.output.dtype)
    want = Expected(state_after=reference.state_after, output=reference.output,
                    output_bound=bound.rows(case.inputs[0]))
    if case.grad_outputs is not None:
        want.grads = reference.grads
        want.grad_bounds = {"weight": tolerance.binary_gradient(
            scale, case.inputs[0], case.grad_outputs[0], config.num_embeddings,
            padding_idx=padding_row(config), dtype=reference.grads["weight"].dtype)}
    return [want]
