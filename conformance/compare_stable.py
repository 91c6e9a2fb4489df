"""How a stable-embedding forward is judged (S2): its lookup as an embedding's
(including the max_norm renorm of the table), then the layer norm of the looked-up
rows and its gradients within their S0.7 bounds."""

from __future__ import annotations

import torch
from embedspec.conformance import tolerance
from embedspec.conformance.assertions import assert_within
from embedspec.conformance.case import Case, RankOutcome
from embedspec.conformance.compare_common import compare_grads, compare_output_meta, padding_idx
from embedspec.conformance.compare_embedding import compare_weight_state
from embedspec.reference.stable import LAYER_NORM_EPS


def compare_stable(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    """A stable-embedding forward (and backward) against the reference's (S2)."""
    compare_weight_state(case, actual, expected)
    compare_output_meta(case, actual, expected)
    config = case.config
    state = case.states[0]
    rows = expected.state_after["weight"][case.inputs[0].to(torch.int64)]
    bound = tolerance.layer_norm_output(
        rows, state["norm.weight"], state["norm.bias"], LAYER_NORM_EPS,
        dtype=expected.output.dtype, compute_dtype=state["norm.weight"].dtype,
        renorm_dtype=rows.dtype if config.max_norm is not None else None)
    assert_within(actual.output, expected.output, bound,
                  what="output (layer norm of the looked-up rows)")
    if case.grad_outputs is None:
        return
    bounds = tolerance.layer_norm_gradients(
        rows, state["norm.weight"], case.grad_outputs[0], case.inputs[0],
        config.num_embeddings, LAYER_NORM_EPS, padding_idx=padding_idx(config),
        scale_grad_by_freq=config.scale_grad_by_freq, dtype=expected.grads["weight"].dtype,
        norm_dtype=expected.grads["norm.weight"].dtype)
    compare_grads(actual, expected, bounds)
