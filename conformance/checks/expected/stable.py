"""What a stable-embedding case must observe (S2): its lookup as an embedding's (the
``max_norm`` renorm of the table included), then the layer norm of the looked-up rows
and its gradients within their S0.7 bounds. Errors and builds as for an embedding."""

from __future__ import annotations

import torch
from embedspec.conformance.checks import tolerance
from embedspec.conformance.checks.case import Case
from embedspec.conformance.checks.expected.common import padding_row
from embedspec.conformance.checks.expected.embedding import settled, table_renorm
from embedspec.conformance.checks.expected.model import Expected
from embedspec.reference.stable import LAYER_NORM_EPS


def expected(case: Case) -> list[Expected]:
    """The one process's :class:`Expected` of a stable ``case``."""
    reference, done = settled(case)
    if done is not None:
        return [done]
    config, state = case.config, case.states[0]
    rows = reference.state_after["weight"][case.inputs[0].to(torch.int64)]
    want = Expected(
        state_after=reference.state_after, renorm=table_renorm(case, reference),
        output=reference.output,
        output_bound=tolerance.layer_norm_output(
            rows, state["norm.weight"], state["norm.bias"], LAYER_NORM_EPS,
            dtype=reference.output.dtype, compute_dtype=state["norm.weight"].dtype,
            renorm_dtype=rows.dtype if config.max_norm is not None else None))
    if case.grad_outputs is not None:
        want.grads = reference.grads
        want.grad_bounds = tolerance.layer_norm_gradients(
            rows, state["norm.weight"], case.grad_outputs[0], case.inputs[0],
            config.num_embeddings, LAYER_NORM_EPS, padding_idx=padding_row(config),
            scale_grad_by_freq=config.scale_grad_by_freq,
            dtype=state["weight"].dtype, norm_dtype=state["norm.weight"].dtype)
    return [want]
