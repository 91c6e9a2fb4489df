"""The checks: tests say *what*, these say *how*. Every check runs a
:class:`~embedspec.conformance.checks.case.Case` on a
:class:`~embedspec.conformance.checks.target.Target` and judges every process's outcome;
single-process families are worlds of one process and take exactly the same path.

* :func:`check`: the expectation of every process
  (:func:`~embedspec.conformance.checks.expected.expected_outcomes`: the reference's
  values and their S0.7 bounds), the backend's outcomes, one comparison
  (:func:`~embedspec.conformance.checks.compare.compare`). With ``error`` the test
  states the class every process must raise, and the reference must agree (a check of
  the check);
* :func:`check_repeatable`: determinism (S0.6);
* :func:`check_packed_agreement`: a binary layer's latent path agrees with its own
  packed table (S5);
* :func:`check_initialisation`: a freshly built layer's state, statistically (S1.7).

Every check runs inside :func:`~embedspec.conformance.checks.repro.reporting`, so its
failure carries a snippet that calls the same check on the same case, and a failing
comparison carries notes naming the rules the outcome breaks
(:mod:`~embedspec.conformance.checks.diagnostics`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import torch
from embedspec.conformance.checks import tolerance
from embedspec.conformance.checks.assertions import (
    assert_exact,
    assert_no_error,
    assert_zero_where,
)
from embedspec.conformance.checks.case import Case, RankOutcome
from embedspec.conformance.checks.compare import compare, compare_state_layout
from embedspec.conformance.checks.diagnostics import annotate
from embedspec.conformance.checks.expected import Expected, expected_outcomes, reject_overflow
from embedspec.conformance.checks.expected.common import REFERENCE_LAYERS, reference_outcome
from embedspec.conformance.checks.init_statistics import assert_follows, scheme_distribution
from embedspec.conformance.checks.initialisation import fresh_table, scheme_of, shapes
from embedspec.conformance.checks.repro import reporting
from embedspec.conformance.checks.roles import Role, on_rows, output_role, table_role
from embedspec.conformance.checks.target import Target
from embedspec.reference import unpack


@contextlib.contextmanager
def _reporting(target: Target, case: Case, check: str, **options: Any) -> Iterator[None]:
    kept = {k: v for k, v in options.items() if v is not None}
    with reporting(case, target.backend_spec, check=check, options=kept,
                   device=target.device):
        yield


def check(target: Target, case: Case, *, error: type[BaseException] | None = None,
          mentions: str | None = None) -> list[RankOutcome]:
    """Run ``case`` on every process of its world and compare each outcome with the
    reference's expectation. ``error``: the class every process must raise (its message
    naming ``mentions``, when given), leaving its state as loaded (S0.4)."""
    case = target.place(case)
    with _reporting(target, case, "check", error=error, mentions=mentions):
        expected = expected_outcomes(case)
        if error is not None:
            _require_reference_error(expected, error)
            for want in expected:
                want.mentions = mentions
        reject_overflow(expected)
        outcomes = target.run(case)
        with annotate(case, outcomes):
            compare(case, outcomes, expected)
    return outcomes


def _require_reference_error(expected: list[Expected], error: type[BaseException]) -> None:
    wrong = [e.error for e in expected if e.error is None or not issubclass(e.error, error)]
    if wrong:
        raise RuntimeError(f"the reference itself does not raise {error.__name__} on every "
                           f"process (got {wrong}); the check is wrong")


def check_repeatable(target: Target, case: Case) -> list[RankOutcome]:
    """Determinism (S0.6): two runs of ``case`` both match the reference; within a run
    the repeated forwards agree bitwise, and so do the two runs' outputs; the two runs'
    gradients agree bitwise for a backend declaring ``deterministic_backward`` (others
    are held to the accumulation bound by the reference comparison)."""
    case = target.place(case)
    with _reporting(target, case, "check_repeatable"):
        expected = expected_outcomes(case)
        reject_overflow(expected)
        first, second = target.run(case), target.run(case)
        compare(case, first, expected)
        compare(case, second, expected)
        for proc, (one, again) in enumerate(zip(first, second, strict=True)):
            role = output_role(case, proc)
            outputs = one.extra.get("outputs", [one.output])
            for i, output in enumerate(outputs[1:], start=2):
                assert_exact(output, outputs[0], what=f"output of forward {i} of "
                                                      f"{len(outputs)}", role=role)
            assert_exact(again.output, one.output, what="output of a second run", role=role)
            if target.backend.deterministic_backward:
                _assert_same_gradients(again.grads, one.grads, table_role(case, proc))
    return first


def _assert_same_gradients(again: dict[str, torch.Tensor | None],
                           first: dict[str, torch.Tensor | None], role: Role) -> None:
    """Two runs' gradients bitwise equal (sparse ones after coalescing); ``role``: that
    of an element of the ``weight`` gradient."""
    if set(again) != set(first):
        raise AssertionError(f"gradients of {sorted(again)} in a second run, {sorted(first)} "
                             "in the first")
    for name, grad in first.items():
        what = f"gradient of {name!r} in a second run (deterministic_backward)"
        other = again[name]
        if grad is None or other is None:
            if (grad is None) != (other is None):
                raise AssertionError(f"{what}: present in one run only")
            continue
        element = role if name == "weight" else None
        if grad.layout == torch.sparse_coo:
            grad, other = grad.coalesce(), other.coalesce()
            assert_exact(other.indices(), grad.indices(), what=f"{what}, indices")
            element = on_rows(element, grad.indices()[0].tolist())
            grad, other = grad.values(), other.values()
        assert_exact(other, grad, what=what, role=element)


def check_packed_agreement(target: Target, case: Case) -> list[RankOutcome]:
    """A binary layer's two paths agree bitwise (S5): its latent forward equals its
    ``forward_packed()`` and the dequantised rows of its own ``packed()`` table,
    ``unpack(qweight)[id] * scale[id]`` cast to the layer dtype. Returns the outcomes of
    the latent forward."""
    case = target.place(case)
    with _reporting(target, case, "check_packed_agreement"):
        (forward,) = target.run(dataclasses.replace(case, action="forward"))
        (packed,) = target.run(dataclasses.replace(case, action="packed", inputs=[]))
        (packed_forward,) = target.run(dataclasses.replace(case, action="forward_packed",
                                                           grad_outputs=None))
        assert_no_error(forward, what="the backend's forward")
        assert_no_error(packed, what="the backend's packed()")
        assert_no_error(packed_forward, what="the backend's forward_packed()")
        role = output_role(case)
        assert_exact(packed_forward.output, forward.output,
                     what="forward_packed() output vs the latent forward", role=role)
        table = packed.extra["packed"]
        ids = case.inputs[0].reshape(-1).to(torch.int64)
        rows = unpack(table["qweight"], case.config.embedding_dim)[ids] \
            * table["scale"][ids].unsqueeze(1)
        dequantised = rows.to(forward.output.dtype).reshape(forward.output.shape)
        assert_exact(forward.output, dequantised,
                     what="latent forward vs the backend's own packed table", role=role)
    return [forward]


def check_initialisation(target: Target, case: Case, *, seed: int) -> list[RankOutcome]:
    """A layer the backend builds (``action="build"``) or resets (``"reset_parameters"``,
    after loading the case's state) right after ``torch.manual_seed(seed)`` (S1.7, S3.8,
    S4, S5): the reference's state layout; the padding rows exactly zero; a named
    scheme's elements, over the full table the world holds, consistent with its law;
    every other state entry, and a user callable's table, exactly the reference's (they
    are deterministic)."""
    if case.action not in ("build", "reset_parameters"):
        raise ValueError("an initialisation check builds or resets: use action='build' or "
                         "'reset_parameters'")
    case = target.place(case)
    with _reporting(target, case, "check_initialisation", seed=seed):
        torch.manual_seed(seed)
        outcomes = target.run(case)
        for proc, outcome in enumerate(outcomes):
            assert_no_error(outcome, what=f"the backend (process {proc})")
        config = case.config
        if case.world.nprocs == 1 and config.family in REFERENCE_LAYERS:
            torch.manual_seed(seed)
            expected = reference_outcome(case)
            compare_state_layout(outcomes[0].state_after, expected.state_after)
            for key in expected.state_after:
                if key != "weight" or not isinstance(scheme_of(case), str):
                    assert_exact(outcomes[0].state_after[key], expected.state_after[key],
                                 what=f"state {key!r} after init (deterministic)")
        else:
            for proc, shape in enumerate(shapes(case)):
                got = tuple(outcomes[proc].state_after["weight"].shape)
                if got != shape:
                    raise AssertionError(f"process {proc}: weight of shape {got}, expected "
                                         f"{shape}")
        fresh = fresh_table(case, outcomes)
        for what, values in fresh.zeros:
            assert_zero_where(values, torch.ones((), dtype=torch.bool), what=f"{what} after init")
        if isinstance(fresh.scheme, str):
            law = scheme_distribution(fresh.scheme, *fresh.table.shape)
            assert_follows(fresh.table[fresh.keep], law, alpha=tolerance.STATISTICAL_ALPHA,
                           what=f"table initialised by {fresh.scheme!r} (padding rows "
                                "excluded)")
    return outcomes


def fill_with_constant(weight: torch.Tensor) -> None:
    """A user init callable for checks: every element ``0.5`` (exact in every dtype)."""
    weight.fill_(0.5)
