"""Comparison steps every single-process family shares: the normalised padding row,
the output's and state dict's meta (shape, dtype, device, keys), and the gradients
within their S0.7 bounds (dense or sparse)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from embedspec.conformance import tolerance
from embedspec.conformance.assertions import (
    assert_same_meta,
    assert_sparse_grad_equal,
    assert_within,
)
from embedspec.conformance.case import Case, RankOutcome
from embedspec.reference.configs import LayerConfig
from embedspec.reference.validation import normalize_padding_idx


def padding_idx(config: LayerConfig) -> int | None:
    """``config.padding_idx`` as a row number (a negative one counted from the end)."""
    return normalize_padding_idx(config.padding_idx, config.num_embeddings)


def _output_device(outcome: RankOutcome) -> str | None:
    device = outcome.extra.get("output_device")
    return None if device is None else torch.device(device).type


def compare_output_meta(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    """The backend returned an output of the reference's shape and dtype, on the case's
    device."""
    expected_device = None if _output_device(expected) is None else torch.device(
        case.device).type
    if actual.output is None:
        raise AssertionError("the backend returned no output")
    assert_same_meta(actual.output, expected.output, what="output",
                     actual_device=_output_device(actual), expected_device=expected_device)


def compare_state_meta(actual: Mapping[str, torch.Tensor],
                       expected: Mapping[str, torch.Tensor]) -> None:
    """The state dict has the reference's keys, shapes and dtypes."""
    if set(actual) != set(expected):
        raise AssertionError(f"state dict keys {sorted(actual)}, expected {sorted(expected)} "
                             "(backends keep the reference's layout)")
    for key in expected:
        assert_same_meta(actual[key], expected[key], what=f"state {key!r}")


def compare_grads(actual: RankOutcome, expected: RankOutcome,
                  bounds: Mapping[str, tolerance.Bound]) -> None:
    """Every gradient the reference has, and no other, within its bound in ``bounds``;
    a sparse reference gradient is compared as a sparse one."""
    if set(actual.grads) != set(expected.grads):
        raise AssertionError(f"gradients of {sorted(actual.grads)}, expected "
                             f"{sorted(expected.grads)}")
    for name, want in expected.grads.items():
        got = actual.grads[name]
        what = f"gradient of {name!r}"
        if want is None or got is None:
            if (want is None) != (got is None):
                raise AssertionError(f"{what}: got {'None' if got is None else 'a tensor'}, "
                                     f"expected {'None' if want is None else 'a tensor'}")
            continue
        if want.layout == torch.sparse_coo:
            assert_sparse_grad_equal(got, want, bounds[name], what=f"sparse {what}")
        else:
            assert_within(got, want, bounds[name], what=what)
