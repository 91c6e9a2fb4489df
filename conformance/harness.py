"""The single-process checks: tests say *what*, these checks say *how*.

A test draws a configuration, a state and inputs, wraps them in a
:class:`~embedspec.conformance.case.Case` (:func:`make_case`, or ``target.case``) and
calls one check:

* :func:`check_against_reference`: run the case on the backend (through the
  ``runner`` fixture) and on the reference layer, and compare everything the spec
  defines (error class, output meta and values, gradients, state after, packed form)
  with the tolerance policy of :mod:`~embedspec.conformance.tolerance`, plus any named
  :data:`~embedspec.conformance.properties.PROPERTIES` the test asks for;
* :func:`check_error`: the backend must raise the given class (S0.2, S0.3, S0.5) and
  leave its state exactly as loaded (S0.4);
* :func:`check_repeatable`: determinism (S0.6);
* :func:`check_packed_agreement`: a binary layer's latent path agrees with its own
  packed table (S5);
* :func:`check_initialisation`: a freshly built layer's state, statistically (S1.7).

Every check runs inside :func:`~embedspec.conformance.repro.reporting`, so its
failure carries a snippet that calls the same check on the same case.

The parts live in their own modules: the target and one-process cases in
:mod:`~embedspec.conformance.target`, expected outcomes in
:mod:`~embedspec.conformance.expected_single`, the comparison in
:mod:`~embedspec.conformance.compare_single` (per family: ``compare_embedding``,
``compare_stable``, ``compare_binary``), named properties in
:mod:`~embedspec.conformance.properties` and the statistics of initialisation in
:mod:`~embedspec.conformance.init_statistics`. This module also offers the names test
modules and repro snippets reach through it (``harness.target_fixture``,
``harness.local_target``, ``harness.make_case``, ...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from embedspec.conformance import tolerance
from embedspec.conformance.assertions import (
    assert_error,
    assert_exact,
    assert_no_error,
    assert_state_unchanged,
    assert_zero_where,
)
from embedspec.conformance.case import Case, RankOutcome
from embedspec.conformance.compare_common import compare_state_meta, padding_idx
from embedspec.conformance.compare_single import compare
from embedspec.conformance.expected_single import (
    build_reference,
    expected_outcome,
    reject_overflow,
    state_layout,
)
from embedspec.conformance.init_statistics import assert_follows, scheme_distribution
from embedspec.conformance.properties import PROPERTIES
from embedspec.conformance.repro import reporting
from embedspec.conformance.target import Target, local_target, make_case, run, target_fixture
from embedspec.reference.binary import unpack

__all__ = [
    "Result",
    "Target",
    "build_reference",
    "check_against_reference",
    "check_error",
    "check_initialisation",
    "check_packed_agreement",
    "check_repeatable",
    "fill_with_constant",
    "local_target",
    "make_case",
    "state_layout",
    "target_fixture",
]


@dataclass
class Result:
    """A checked case with both outcomes."""

    case: Case
    actual: RankOutcome
    expected: RankOutcome


def _reporting(target: Target, case: Case, check: str, **options: Any):
    return reporting(case, target.backend_spec, check=check, options=options,
                     device=target.device)


def _options(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v not in (None, ())}


def check_against_reference(target: Target, case: Case, *,
                            properties: tuple[str, ...] = ()) -> Result:
    """Run ``case`` on the backend and the reference and compare all outcomes, then
    assert each named property of :data:`PROPERTIES`."""
    unknown = [p for p in properties if p not in PROPERTIES]
    if unknown:
        raise ValueError(f"unknown properties {unknown}; known: {', '.join(PROPERTIES)}")
    with _reporting(target, case, "check_against_reference",
                    **_options(properties=tuple(properties))):
        expected = expected_outcome(case)
        reject_overflow(expected)
        actual = run(target, case)
        compare(case, actual, expected)
        for name in properties:
            PROPERTIES[name](case, actual, expected)
    return Result(case, actual, expected)


def check_error(target: Target, case: Case, expected: type[BaseException], *,
                mentions: str | None = None) -> Result:
    """The backend raises ``expected`` (naming ``mentions`` if given) and its state is
    exactly the state it was given (S0.4). The reference must agree (a check of the
    check)."""
    with _reporting(target, case, "check_error",
                    **_options(expected=expected, mentions=mentions)):
        reference = expected_outcome(case)
        if reference.error is None or not reference.error.is_a(expected):
            raise RuntimeError(f"the reference itself does not raise {expected.__name__} for "
                               f"this case (got {reference.error}); the check is wrong")
        actual = run(target, case)
        assert_error(actual, expected, mentions=mentions)
        if case.states:
            assert_state_unchanged(case.states[0], actual.state_after,
                                   what="state after the error (S0.4)")
    return Result(case, actual, reference)


def check_repeatable(target: Target, case: Case) -> Result:
    """Determinism (S0.6): two runs of ``case`` both match the reference; within a run
    the repeated forwards agree bitwise, and so do the two runs' outputs; the two runs'
    gradients agree bitwise for a backend declaring ``deterministic_backward`` (others
    are held to the accumulation bound by the reference comparison)."""
    with _reporting(target, case, "check_repeatable"):
        expected = expected_outcome(case)
        reject_overflow(expected)
        first = run(target, case)
        second = run(target, case)
        compare(case, first, expected)
        compare(case, second, expected)
        outputs = first.extra.get("outputs", [first.output])
        for i, output in enumerate(outputs[1:], start=2):
            assert_exact(output, outputs[0], what=f"output of forward {i} of {len(outputs)}")
        assert_exact(second.output, first.output, what="output of a second run")
        if tolerance.requires_bitwise_backward(target.backend.deterministic_backward):
            for name, grad in first.grads.items():
                _assert_same_gradient(second.grads[name], grad,
                                      what=f"gradient of {name!r} in a second run "
                                           "(deterministic_backward)")
    return Result(case, first, expected)


def _assert_same_gradient(again: torch.Tensor | None, grad: torch.Tensor | None, *,
                          what: str) -> None:
    if grad is None or again is None:
        if (grad is None) != (again is None):
            raise AssertionError(f"{what}: present in one run only")
        return
    if grad.layout == torch.sparse_coo:
        grad, again = grad.coalesce(), again.coalesce()
        assert_exact(again.indices(), grad.indices(), what=f"{what}, indices")
        assert_exact(again.values(), grad.values(), what=f"{what}, values")
        return
    assert_exact(again, grad, what=what)


def _ids(case: Case) -> torch.Tensor:
    return case.inputs[0].reshape(-1).to(torch.int64)


def check_packed_agreement(target: Target, case: Case) -> Result:
    """A binary layer's two paths agree bitwise (S5): its latent forward equals its
    ``forward_packed()`` and the dequantised rows of its own ``packed()`` table,
    ``unpack(qweight)[id] * scale[id]`` cast to the layer dtype.
    The result holds the forward outcome as ``actual`` and the packed one as ``expected``."""
    with _reporting(target, case, "check_packed_agreement"):
        forward = run(target, dataclasses.replace(case, action="forward"))
        packed = run(target, dataclasses.replace(case, action="packed", inputs=[]))
        packed_forward = run(target, dataclasses.replace(case, action="forward_packed",
                                                         grad_outputs=None))
        assert_no_error(forward, what="the backend's forward")
        assert_no_error(packed, what="the backend's packed()")
        assert_no_error(packed_forward, what="the backend's forward_packed()")
        assert_exact(packed_forward.output, forward.output,
                     what="forward_packed() output (the runner must support the "
                          "'forward_packed' action) vs the latent forward")
        table = packed.extra["packed"]
        dim = case.config.embedding_dim
        ids = _ids(case)
        rows = unpack(table["qweight"], dim)[ids] * table["scale"][ids].unsqueeze(1)
        dequantised = rows.to(forward.output.dtype).reshape(forward.output.shape)
        assert_exact(forward.output, dequantised,
                     what="latent forward vs the backend's own packed table")
    return Result(case, forward, packed)


def check_initialisation(target: Target, case: Case, *, seed: int) -> Result:
    """A layer the backend builds after ``torch.manual_seed(seed)`` (S1.7): the reference's
    state layout; the padding row exactly zero; a named scheme's elements consistent with
    its law; every other state entry, and a user callable's table, exactly the
    reference's (they are deterministic)."""
    if case.action != "build":
        raise ValueError("an initialisation check builds only: use action='build'")
    with _reporting(target, case, "check_initialisation", seed=seed):
        torch.manual_seed(seed)
        actual = run(target, case)
        torch.manual_seed(seed)
        expected = expected_outcome(case)
        assert_no_error(actual)
        compare_state_meta(actual.state_after, expected.state_after)
        config = case.config
        weight = actual.state_after["weight"]
        padding = padding_idx(config)
        keep = torch.ones(weight.shape[0], dtype=torch.bool)
        if padding is not None:
            keep[padding] = False
            assert_zero_where(weight, ~keep.unsqueeze(1), what="padding row after init")
        for key in expected.state_after:
            if key != "weight" or not isinstance(config.init, str):
                assert_exact(actual.state_after[key], expected.state_after[key],
                             what=f"state {key!r} after init (deterministic)")
        if isinstance(config.init, str):
            law = scheme_distribution(config.init, config.num_embeddings,
                                      config.embedding_dim)
            assert_follows(weight[keep], law, alpha=tolerance.STATISTICAL_ALPHA,
                           what=f"weight initialised by {config.init!r} (padding row excluded)")
    return Result(case, actual, expected)


def fill_with_constant(weight: torch.Tensor) -> None:
    """A user init callable for checks: every element ``0.5`` (exact in every dtype)."""
    weight.fill_(0.5)
