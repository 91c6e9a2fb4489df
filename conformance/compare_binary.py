"""How a binary layer is judged (S5): its forward (latent or packed) returns ±scale
per bit, within the per-row bound of the reference's scale, leaves its state exactly
as the reference leaves it and has the straight-through gradient within its bound;
its ``packed()`` table has the normative bit layout exactly and the scales within
their bound."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from embedspec.conformance import tolerance
from embedspec.conformance.assertions import assert_exact, assert_state_unchanged, assert_within
from embedspec.conformance.case import Case, RankOutcome
from embedspec.conformance.compare_common import compare_grads, compare_output_meta, padding_idx
from embedspec.reference.binary import pack


def _reference_pack(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    config = case.config
    return pack(case.states[0]["weight"], config.padding_idx, centre=config.centre)


def compare_binary(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    """A binary forward (latent or packed, and backward) against the reference's (S5)."""
    assert_state_unchanged(expected.state_after, actual.state_after,
                           what="state after the forward")
    compare_output_meta(case, actual, expected)
    config = case.config
    _, scale = _reference_pack(case)
    bound = tolerance.binary_output(scale, config.embedding_dim, dtype=expected.output.dtype)
    assert_within(actual.output, expected.output, bound.rows(case.inputs[0]),
                  what="output (±scale per bit)")
    if case.grad_outputs is None:
        return
    grad = tolerance.binary_gradient(scale, case.inputs[0], case.grad_outputs[0],
                                     config.num_embeddings, padding_idx=padding_idx(config),
                                     dtype=expected.grads["weight"].dtype)
    compare_grads(actual, expected, {"weight": grad})


def compare_packed(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    """A binary layer's ``packed()`` table against the reference's (S5)."""
    got = actual.extra.get("packed")
    want = expected.extra["packed"]
    if not isinstance(got, Mapping) or set(got) != set(want):
        raise AssertionError(f"packed(): got {sorted(got) if isinstance(got, Mapping) else got},"
                             f" expected the fields {sorted(want)}")
    assert_exact(got["qweight"], want["qweight"], what="packed qweight (normative layout)")
    assert_within(got["scale"], want["scale"],
                  tolerance.binary_scale(want["scale"], case.config.embedding_dim),
                  what="packed scale (mean |w| per row)")
