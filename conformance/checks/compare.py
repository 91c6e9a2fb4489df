"""One comparison for every world: each process's
:class:`~embedspec.conformance.checks.case.RankOutcome` against its
:class:`~embedspec.conformance.checks.expected.Expected` (:func:`compare`).

In order: the error class (and the state left as loaded, S0.4), or no error; the state
dict's layout; the state after (bitwise, or within the renorm allowance); the output
(meta, then exact, within its bound, or the backend's own stored rows); the gradients
within their bounds; the packed table; the forward-mode tangent and the second
derivatives of a transformed forward. Every failure names the process it happened on
when the world has more than one, and what the spec says the first differing element
is, where it says anything (:mod:`.roles`: the padding row, a vocab padding row, an id
outside the rank's shard, a renormed row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from embedspec.conformance.checks.assertions import (
    assert_error,
    assert_exact,
    assert_no_error,
    assert_rows_unchanged_except,
    assert_same_meta,
    assert_sparse_grad_equal,
    assert_state_unchanged,
    assert_within,
)
from embedspec.conformance.checks.case import Case, RankOutcome, World
from embedspec.conformance.checks.expected import Expected, Renorm, StoredRows
from embedspec.conformance.checks.roles import Role, output_role, table_role
from embedspec.conformance.checks.tolerance import Bound


def compare(case: Case, outcomes: Sequence[RankOutcome], expected: Sequence[Expected]) -> None:
    """Every process's outcome against its expectation (see the module docstring)."""
    world = case.world
    if len(outcomes) != world.nprocs:
        raise AssertionError(f"world {world} has {world.nprocs} processes, the runner "
                             f"returned {len(outcomes)} outcomes")
    for proc, (actual, want) in enumerate(zip(outcomes, expected, strict=True)):
        try:
            compare_process(case, outcomes, actual, want, proc=proc)
        except AssertionError as exc:
            if world.nprocs > 1:
                exc.add_note(f"at process {proc}: {where(proc, world)}")
            raise


def where(proc: int, world: World) -> str:
    """``"rank 1 of replica 0 (world 2x2)"``."""
    dp_rank, rank = world.coords(proc)
    replica = f" of replica {dp_rank}" if world.dp_size > 1 else ""
    return f"rank {rank}{replica} (world {world})"


def compare_process(case: Case, outcomes: Sequence[RankOutcome], actual: RankOutcome,
                    want: Expected, *, proc: int = 0) -> None:
    """Process ``proc``'s outcome against its expectation; a differing element is named
    with its role in the spec (:mod:`.roles`)."""
    if want.error is not None:
        compare_error(actual, want)
        return
    assert_no_error(actual)
    if want.state_layout is not None:
        compare_state_layout(actual.state_after, want.state_layout)
    if want.state_after is not None:
        compare_state(case, actual.state_after, want, proc=proc)
    if want.output is not None:
        compare_output(case, outcomes, actual, want, proc=proc)
    if want.grads is not None:
        compare_grads(actual.grads, want.grads, want.grad_bounds or {},
                      role=table_role(case, proc, lookups=True))
    if want.packed is not None:
        compare_packed(actual.extra.get("packed"), want.packed, want.packed_bounds or {})
    if want.tangent is not None:
        compare_tangent(actual.extra.get("tangent"), want.tangent, want.tangent_bound or Bound())
    if want.second_order is not None:
        compare_second_order(actual.extra.get("second_order"), want.second_order,
                             want.second_order_bounds or {})
    for key, value in (want.reports or {}).items():
        if key not in actual.extra or actual.extra[key] != value:
            raise AssertionError(f"{key}: got {actual.extra.get(key, '(nothing)')!r}, "
                                 f"expected {value!r}")


def compare_error(actual: RankOutcome, want: Expected) -> None:
    """The expected error class (naming ``want.mentions``) *and* the state left as loaded
    (S0.4), both checked: a wrong class does not hide a changed state. A layer the
    backend could not build has no state to check."""
    problems: list[AssertionError] = []
    try:
        assert_error(actual, want.error, mentions=want.mentions)
    except AssertionError as exc:
        problems.append(exc)
    built = actual.error is None or actual.error.during not in ("build", "from_pretrained")
    if want.state_before is not None and built:
        try:
            assert_state_unchanged(want.state_before, actual.state_after,
                                   what="state after the error (S0.4)")
        except AssertionError as exc:
            problems.append(exc)
    if not problems:
        return
    if len(problems) == 1:
        raise problems[0]
    failure = AssertionError("; and ".join(str(p) for p in problems))
    for problem in problems:
        for note in getattr(problem, "__notes__", ()):
            failure.add_note(note)
    raise failure


def compare_state_layout(actual: Mapping[str, torch.Tensor],
                         expected: Mapping[str, torch.Tensor]) -> None:
    """The state dict has the reference's keys, shapes and dtypes."""
    if set(actual) != set(expected):
        raise AssertionError(f"state dict keys {sorted(actual)}, expected {sorted(expected)} "
                             "(backends keep the reference's layout)")
    for key in expected:
        assert_same_meta(actual[key], expected[key], what=f"state {key!r}")


def compare_state(case: Case, actual: Mapping[str, torch.Tensor], want: Expected, *,
                  proc: int = 0) -> None:
    """The state after the action: bitwise the reference's, except the ``weight`` rows a
    renorm allows to differ."""
    compare_state_layout(actual, want.state_after)
    for key, value in want.state_after.items():
        role = table_role(case, proc, want.renorm, lookups=True) if key == "weight" else None
        if key == "weight" and want.renorm is not None:
            compare_renormed(actual[key], value, want.renorm, role=role)
        else:
            assert_exact(actual[key], value, what=f"state {key!r} after the {case.action}",
                         role=role)


def compare_renormed(after: torch.Tensor, reference: torch.Tensor, renorm: Renorm, *,
                     role: Role | None = None) -> None:
    """A stored table after a ``max_norm`` renorm (S1.2, S4.4): rows outside
    ``renorm.may_change`` bitwise as loaded, the others within the bound of the
    reference's value, or of the other acceptable value of an ambiguous row,
    whichever is nearer the backend's."""
    assert_rows_unchanged_except(
        renorm.loaded, after, renorm.may_change,
        what="stored table after the forward (rows not referenced, or with a norm clearly "
             "<= max_norm)", role=role)
    assert_within(after, nearer_choice(after, reference, renorm), renorm.bound,
                  what="stored table after the max_norm renorm (referenced rows)", role=role)


def nearer_choice(after: torch.Tensor, reference: torch.Tensor, renorm: Renorm) -> torch.Tensor:
    """The reference's table where each ambiguous row takes whichever acceptable value
    (the reference's or ``renorm.alternative``) is nearer the backend's."""
    rows = renorm.ambiguous
    target = reference.clone()
    if rows.numel() == 0 or after.shape[1] == 0:
        return target
    got = after[rows].to(torch.float64)
    other = renorm.alternative[rows]
    closer = ((got - other.to(torch.float64)).abs().amax(dim=1)
              < (got - reference[rows].to(torch.float64)).abs().amax(dim=1))
    target[rows[closer]] = other[closer]
    return target


def compare_output(case: Case, outcomes: Sequence[RankOutcome], actual: RankOutcome,
                   want: Expected, *, proc: int = 0) -> None:
    """Meta (shape, dtype, the case's device), then the values."""
    if actual.output is None:
        raise AssertionError("the backend returned no output")
    device = actual.extra.get("output_device")
    assert_same_meta(actual.output, want.output, what="output",
                     actual_device=None if device is None else torch.device(device).type,
                     expected_device=torch.device(case.device).type)
    role = output_role(case, proc, want.renorm)
    if want.output_reads is not None:
        assert_exact(actual.output, stored_rows(outcomes, want.output_reads),
                     what="output (a gather of the rows the backend renormalised and stored)",
                     role=role)
    elif want.output_bound is not None:
        assert_within(actual.output, want.output, want.output_bound, what="output", role=role)
    else:
        assert_exact(actual.output, want.output, what="output (a gather)", role=role)


def stored_rows(outcomes: Sequence[RankOutcome], reads: StoredRows) -> torch.Tensor:
    """The rows ``reads`` names, from the tables the owner processes reported."""
    tables = [outcomes[p].state_after.get("weight") for p in reads.owners]
    if any(table is None for table in tables):
        raise AssertionError("an owner process reported no stored 'weight' to check the "
                             "output against")
    rows = torch.cat(tables, dim=1)[reads.ids.to(torch.int64)]
    return rows if reads.columns is None else rows[..., slice(*reads.columns)]


def compare_grads(actual: Mapping[str, torch.Tensor | None],
                  expected: Mapping[str, torch.Tensor | None],
                  bounds: Mapping[str, Bound], *, role: Role | None = None) -> None:
    """Every gradient the reference has, and no other, within its bound (none: exact);
    a sparse reference gradient is compared as a sparse one. ``role``: that of an
    element of the ``weight`` gradient."""
    if set(actual) != set(expected):
        raise AssertionError(f"gradients of {sorted(actual)}, expected {sorted(expected)}")
    for name, want in expected.items():
        got = actual[name]
        what = f"gradient of {name!r}"
        if want is None or got is None:
            if (want is None) != (got is None):
                raise AssertionError(f"{what}: got {'None' if got is None else 'a tensor'}, "
                                     f"expected {'None' if want is None else 'a tensor'}")
            continue
        bound = bounds.get(name, Bound())
        element = role if name == "weight" else None
        if want.layout == torch.sparse_coo:
            assert_sparse_grad_equal(got, want, bound, what=f"sparse {what}", role=element)
        else:
            assert_within(got, want, bound, what=what, role=element)


def compare_packed(actual: object, expected: Mapping[str, torch.Tensor],
                   bounds: Mapping[str, Bound]) -> None:
    """A binary layer's ``packed()`` table: the reference's fields, each exact or within
    its bound (S5: the bit layout is normative, the scales an accumulation)."""
    if not isinstance(actual, Mapping) or set(actual) != set(expected):
        got = sorted(actual) if isinstance(actual, Mapping) else actual
        raise AssertionError(f"packed(): got {got}, expected the fields {sorted(expected)}")
    for key, want in expected.items():
        what = f"packed {key}"
        if key in bounds:
            assert_within(actual[key], want, bounds[key], what=what)
        else:
            assert_exact(actual[key], want, what=f"{what} (normative layout)")


def compare_tangent(actual: object, expected: torch.Tensor, bound: Bound) -> None:
    """The output's forward-mode tangent (composability): the reference's shape and
    dtype, values within ``bound`` (exact where it allows nothing)."""
    if not isinstance(actual, torch.Tensor):
        raise AssertionError("the forward-mode tangent of the output is missing")
    assert_within(actual, expected, bound, what="tangent of the output (forward-mode AD)")


def compare_second_order(actual: object, expected: Mapping[str, torch.Tensor],
                         bounds: Mapping[str, Bound]) -> None:
    """The derivatives of a double backward: one per name of ``expected`` (the output
    gradient and every trainable parameter), each within its bound (none: exact)."""
    if not isinstance(actual, Mapping) or set(actual) != set(expected):
        got = sorted(actual) if isinstance(actual, Mapping) else actual
        raise AssertionError(f"double backward: derivatives with respect to {got}, expected "
                             f"{sorted(expected)}")
    for name, want in expected.items():
        assert_within(actual[name], want, bounds.get(name, Bound()),
                      what=f"derivative of the backward with respect to {name!r} "
                           "(double backward)")
